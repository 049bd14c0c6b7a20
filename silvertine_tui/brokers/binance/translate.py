"""Between our domain and Binance's wire shapes (spot).

- `order_params`: an `OrderRequest` as `POST /api/v3/order` parameters.
- `amend_params` / `Amended`: an order amend keepPriority (`PUT /api/v3/order/amend/
  keepPriority`) and its answer's `amendedOrder`.
- `ExecutionReport`: a user-data `executionReport`, with its `OrderUpdate` and `Fill`.
- `venue_order`: an order JSON (`GET order`, `openOrders`) as a `VenueOrder`.
- `trade_fill`: a `myTrades` entry as a `Fill`.
- `balances`: an `account` answer (or an `outboundAccountPosition`) as `Balance`s.

Fills are keyed `"{SYMBOL}-{tradeId}"`: Binance numbers trades per symbol, and the
same trade reaches us from the user stream, the REST reply (`FULL`) and `myTrades`.

A stop (STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT, TAKE_PROFIT_LIMIT) waits untriggered:
not working (`isWorking` false, `workingTime` -1, no `W` in its reports). When a trade
reaches its stop Binance sends a second report of execution type NEW (status NEW) that
carries `W`, the time it started working, and its order JSON then reads `isWorking`
true: its `OrderUpdate` / `VenueOrder` says `triggered` (`stop_triggered`). Before, the
adapter read that report as a repeat of the first NEW, and the desk showed a triggered
stop as one still waiting (its Stop open to a change Binance cannot make).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...domain import (
    Balance,
    Fill,
    Liquidity,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
    VenueOrder,
)
from .instruments import dec, key_of
from .order_types import ORDER_TYPE, STOP_TYPE

ZERO = Decimal(0)
# Binance's names of our stops: the order types that wait for a trigger.
VENUE_STOP_TYPES = frozenset(STOP_TYPE.values())

STATUS: dict[str, OrderStatus] = {
    "NEW": OrderStatus.NEW,
    "PENDING_NEW": OrderStatus.PENDING_NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.PENDING_CANCEL,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}


def wire(value: Decimal) -> str:
    """A Decimal as Binance takes it: plain digits, no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def status_of(raw: str) -> OrderStatus:
    try:
        return STATUS[raw]
    except KeyError:
        raise ValueError(f"unknown Binance order status {raw!r}") from None


def exec_id(symbol: str, trade_id: int | str) -> str:
    return f"{symbol}-{trade_id}"


def order_params(
    request: OrderRequest, symbol: str, *, response_type: str = "RESULT"
) -> dict[str, str]:
    """The new-order parameters. Our client order id always travels as
    `newClientOrderId`. MARKET carries no timeInForce at Binance (it takes what the book
    has and expires the rest, as IOC); post-only LIMIT is LIMIT_MAKER (no timeInForce);
    STOP_LIMIT is STOP_LOSS_LIMIT. STOP (STOP_LOSS) and TAKE_PROFIT carry a quantity and
    a stopPrice only: no price, no timeInForce (they wait until triggered, then work as a
    MARKET), no quoteOrderQty (that is for MARKET alone)."""
    params: dict[str, str] = {"symbol": symbol, "side": str(request.side)}
    kind = request.order_type
    if request.quote_quantity is not None:
        # A MARKET order for an amount of the quote asset: Binance works out the base
        # quantity (`quoteOrderQty`; never sent beside `quantity`).
        if kind is not OrderType.MARKET or request.quantity is not None:
            raise ValueError("quoteOrderQty is for MARKET orders without a quantity")
        params["quoteOrderQty"] = wire(request.quote_quantity)
    elif request.quantity is not None:
        params["quantity"] = wire(request.quantity)
    else:
        raise ValueError("an order needs a quantity or a quote quantity")
    params["newClientOrderId"] = request.client_order_id
    params["newOrderRespType"] = response_type
    if kind is OrderType.MARKET:
        params["type"] = "MARKET"
    elif kind is OrderType.LIMIT:
        assert request.limit_price is not None
        params["price"] = wire(request.limit_price)
        if request.post_only:
            # It rests until cancelled (no time in force): `Capabilities.issues`
            # refuses post-only IOC or FOK before anything gets here.
            assert request.tif not in (TimeInForce.IOC, TimeInForce.FOK), request.tif
            params["type"] = "LIMIT_MAKER"
        else:
            params["type"] = "LIMIT"
            params["timeInForce"] = str(request.tif)
    elif kind in STOP_TYPE:
        assert request.stop_price is not None
        params["type"] = STOP_TYPE[kind]
        if kind.has_limit_price:
            assert request.limit_price is not None
            params["timeInForce"] = str(request.tif)
            params["price"] = wire(request.limit_price)
        params["stopPrice"] = wire(request.stop_price)
    else:
        raise ValueError(f"Binance spot does not take {kind} orders here")
    return params


def average(cum_quote: Decimal, cum_qty: Decimal) -> Decimal | None:
    return cum_quote / cum_qty if cum_qty > 0 else None


def stop_triggered(venue_type: str, working: bool) -> bool | None:
    """`triggered` for an order of Binance type `venue_type` that Binance says is
    working (`working`): True for a stop that works (its stop has triggered), None
    (not said) for any other order or a stop still waiting."""
    return True if working and venue_type in VENUE_STOP_TYPES else None


def _working_ms(raw: Any) -> int:
    """`W` / `workingTime` as milliseconds; -1 for an order not working (Binance leaves
    `W` out of its reports, and its `workingTime` is -1)."""
    if raw is None or isinstance(raw, bool):
        return -1
    try:
        return int(raw)
    except (TypeError, ValueError):
        return -1


def order_working(body: Mapping[str, Any]) -> bool:
    """Whether an order JSON says the order works: `isWorking` (GET order, openOrders),
    else `workingTime` (a new-order or cancelReplace reply: -1 while it does not)."""
    said = body.get("isWorking")
    if isinstance(said, bool):
        return said
    return _working_ms(body.get("workingTime")) >= 0


def _opt_price(raw: Any) -> Decimal | None:
    if raw is None:
        return None
    value = dec(raw)
    return value if value > 0 else None


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """One `executionReport` of the user-data stream, parsed."""

    symbol: str
    client_order_id: str
    venue_order_id: str
    side: Side
    venue_type: str
    tif: str
    execution: str
    status: OrderStatus
    reject_reason: str
    quantity: Decimal
    price: Decimal
    stop_price: Decimal
    # `Q`: the quoteOrderQty of a MARKET order by quote amount (0 otherwise); `q` is
    # then the base quantity Binance worked out for it.
    quote_quantity: Decimal
    last_qty: Decimal
    last_price: Decimal
    cum_qty: Decimal
    cum_quote: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int
    maker: bool
    event_ms: int
    transaction_ms: int
    # `W`: when the order started working (-1: not said, it does not work: a stop that
    # has not triggered).
    working_ms: int = -1

    @classmethod
    def parse(cls, event: Mapping[str, Any]) -> ExecutionReport:
        execution = str(event["x"])
        # On a cancel `c` is the cancel request's own id and `C` the order's.
        original = event.get("C") or ""
        client_id = str(original) if execution == "CANCELED" and original else str(event["c"])
        return cls(
            symbol=str(event["s"]),
            client_order_id=client_id,
            venue_order_id=str(event["i"]),
            side=Side(str(event["S"])),
            venue_type=str(event["o"]),
            tif=str(event.get("f", "GTC")),
            execution=execution,
            status=status_of(str(event["X"])),
            reject_reason=str(event.get("r", "NONE")),
            quantity=dec(event["q"]),
            price=dec(event.get("p", "0")),
            stop_price=dec(event.get("P", "0")),
            quote_quantity=dec(event.get("Q") or "0"),
            last_qty=dec(event.get("l", "0")),
            last_price=dec(event.get("L", "0")),
            cum_qty=dec(event.get("z", "0")),
            cum_quote=dec(event.get("Z", "0")),
            commission=dec(event.get("n") or "0"),
            commission_asset=str(event.get("N") or ""),
            trade_id=int(event.get("t", -1)),
            maker=bool(event.get("m", False)),
            event_ms=int(event.get("E", 0)),
            transaction_ms=int(event.get("T", 0) or event.get("E", 0)),
            working_ms=_working_ms(event.get("W")),
        )

    @property
    def key(self) -> str:
        return key_of(self.symbol)

    @property
    def is_trade(self) -> bool:
        return self.execution == "TRADE" and self.trade_id >= 0 and self.last_qty > 0

    @property
    def exec_id(self) -> str:
        return exec_id(self.symbol, self.trade_id)

    @property
    def triggered(self) -> bool | None:
        """True for a report of a stop that works (`W`): the trigger's own report (the
        second NEW) and every later one of it (its fills, its end), so that a trigger
        report that comes late (after a fill's) or not at all is said all the same.
        None for any other report."""
        return stop_triggered(self.venue_type, self.working_ms >= 0)

    def update(self, reason: str = "") -> OrderUpdate:
        if not reason and self.reject_reason not in ("", "NONE"):
            reason = f"Binance: {self.reject_reason}"
        if not reason and self.execution == "NEW" and self.triggered:
            reason = f"stop triggered at Binance (a trade reached {wire(self.stop_price)})"
        return OrderUpdate(
            client_order_id=self.client_order_id,
            status=self.status,
            venue_order_id=self.venue_order_id,
            filled_qty=self.cum_qty,
            avg_price=average(self.cum_quote, self.cum_qty),
            reason=reason,
            venue_ts_ns=self.transaction_ms * 1_000_000,
            triggered=self.triggered,
        )

    def fill(self, broker: str, account: str, fee_value: Decimal | None) -> Fill:
        return Fill(
            exec_id=self.exec_id,
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            broker=broker,
            account=account,
            instrument=self.key,
            side=self.side,
            quantity=self.last_qty,
            price=self.last_price,
            fee=self.commission,
            fee_currency=self.commission_asset,
            fee_value=fee_value,
            liquidity=str(Liquidity.MAKER if self.maker else Liquidity.TAKER),
            venue_ts_ns=self.transaction_ms * 1_000_000,
        )


def amend_params(
    symbol: str, venue_order_id: str, client_order_id: str, venue_quantity: Decimal
) -> dict[str, str]:
    """Order Amend Keep Priority: venue order `venue_order_id` (the one the change was
    judged against: by `orderId`, Binance's fastest lookup) down to `venue_quantity`, its
    own `origQty` (what filled under venue orders a replace retired is not in it). It
    keeps our client order id: sent as `newClientOrderId` (the docs: "It is possible to
    reuse the current clientOrderId"; else Binance gives it a random new one)."""
    return {
        "symbol": symbol,
        "orderId": venue_order_id,
        "newClientOrderId": client_order_id,
        "newQty": wire(venue_quantity),
    }


@dataclass(frozen=True, slots=True)
class Amended:
    """An amend keepPriority's answer (`amendedOrder` and `transactTime`) or its
    executionReport (`x` REPLACED): the venue order as amended."""

    venue_order_id: str
    client_order_id: str
    quantity: Decimal  # the venue order's quantity now (`qty` / `q`)
    executed: Decimal
    cum_quote: Decimal
    status: OrderStatus
    venue_type: str
    working: bool
    transaction_ms: int

    @classmethod
    def of_answer(cls, body: Mapping[str, Any]) -> Amended:
        """`{"transactTime", "executionId", "amendedOrder": {...}}` (rest-api.md: the
        order's quantity is `qty`, its quote total `cumulativeQuoteQty`)."""
        order = body["amendedOrder"]
        return cls._of(order, order["qty"], order.get("cumulativeQuoteQty", "0"), body)

    @classmethod
    def of_order(cls, body: Mapping[str, Any]) -> Amended:
        """An order JSON (`GET order`: `origQty`, `cummulativeQuoteQty`, `updateTime`)."""
        quote = body.get("cummulativeQuoteQty", "0")
        return cls._of(body, body["origQty"], quote, {"transactTime": body.get("updateTime")})

    @classmethod
    def _of(
        cls, order: Mapping[str, Any], qty: Any, quote: Any, times: Mapping[str, Any]
    ) -> Amended:
        return cls(
            venue_order_id=str(order["orderId"]),
            client_order_id=str(order["clientOrderId"]),
            quantity=dec(qty),
            executed=dec(order.get("executedQty", "0")),
            cum_quote=dec(quote),
            status=status_of(str(order["status"])),
            venue_type=str(order.get("type", "")),
            working=order_working(order),
            transaction_ms=int(times.get("transactTime") or 0),
        )

    @classmethod
    def of_report(cls, report: ExecutionReport) -> Amended:
        return cls(
            venue_order_id=report.venue_order_id,
            client_order_id=report.client_order_id,
            quantity=report.quantity,
            executed=report.cum_qty,
            cum_quote=report.cum_quote,
            status=report.status,
            venue_type=report.venue_type,
            working=report.working_ms >= 0,
            transaction_ms=report.transaction_ms,
        )

    def update(self, reason: str = "") -> OrderUpdate:
        """Its status, as a report of the venue order (the caller adds the order's
        terms and what filled under retired venue orders)."""
        return OrderUpdate(
            client_order_id=self.client_order_id,
            status=self.status,
            venue_order_id=self.venue_order_id,
            filled_qty=self.executed,
            avg_price=average(self.cum_quote, self.executed),
            reason=reason,
            venue_ts_ns=self.transaction_ms * 1_000_000 if self.transaction_ms else None,
            triggered=stop_triggered(self.venue_type, self.working),
        )


def tif_of(venue_type: str, raw: str | None) -> TimeInForce:
    if venue_type == "MARKET":
        return TimeInForce.IOC
    try:
        return TimeInForce(raw or "GTC")
    except ValueError:
        return TimeInForce.GTC


def venue_order(body: Mapping[str, Any]) -> VenueOrder:
    """An order as `GET order`, `openOrders` or a new-order reply shows it (a stop that
    `isWorking` has triggered)."""
    venue_type = str(body["type"])
    executed = dec(body.get("executedQty", "0"))
    cum_quote = dec(body.get("cummulativeQuoteQty", "0"))
    return VenueOrder(
        client_order_id=str(body["clientOrderId"]),
        venue_order_id=str(body["orderId"]),
        instrument=key_of(str(body["symbol"])),
        side=Side(str(body["side"])),
        order_type=ORDER_TYPE.get(venue_type, OrderType.LIMIT),
        tif=tif_of(venue_type, body.get("timeInForce")),
        post_only=venue_type == "LIMIT_MAKER",
        quantity=dec(body["origQty"]),
        filled_qty=executed,
        limit_price=_opt_price(body.get("price")),
        stop_price=_opt_price(body.get("stopPrice")),
        status=status_of(str(body["status"])),
        avg_price=average(cum_quote, executed),
        triggered=stop_triggered(venue_type, order_working(body)),
    )


def reply_update(body: Mapping[str, Any], reason: str = "") -> OrderUpdate:
    """The status a new-order (RESULT/FULL), cancel or query reply shows (a query's
    stop that `isWorking` has triggered)."""
    executed = dec(body.get("executedQty", "0"))
    cum_quote = dec(body.get("cummulativeQuoteQty", "0"))
    client_id = body.get("origClientOrderId") or body["clientOrderId"]
    ts_ms = body.get("transactTime") or body.get("updateTime")
    return OrderUpdate(
        client_order_id=str(client_id),
        status=status_of(str(body["status"])),
        venue_order_id=str(body["orderId"]),
        filled_qty=executed,
        avg_price=average(cum_quote, executed),
        reason=reason,
        venue_ts_ns=int(ts_ms) * 1_000_000 if ts_ms else None,
        triggered=stop_triggered(str(body.get("type", "")), order_working(body)),
    )


def reply_fills(body: Mapping[str, Any], broker: str, account: str, side: Side) -> list[Fill]:
    """The fills of a `FULL` new-order reply (fee_value left for the caller). A new
    order that trades at once is the taker."""
    symbol = str(body["symbol"])
    found: list[Fill] = []
    ts_ms = body.get("transactTime")
    for entry in body.get("fills", []) or []:
        fill = Fill(
            exec_id=exec_id(symbol, entry["tradeId"]),
            client_order_id=str(body["clientOrderId"]),
            venue_order_id=str(body["orderId"]),
            broker=broker,
            account=account,
            instrument=key_of(symbol),
            side=side,
            quantity=dec(entry["qty"]),
            price=dec(entry["price"]),
            fee=dec(entry.get("commission", "0")),
            fee_currency=str(entry.get("commissionAsset", "")),
            liquidity=str(Liquidity.TAKER),
            venue_ts_ns=int(ts_ms) * 1_000_000 if ts_ms else None,
        )
        found.append(fill)
    return found


def trade_fill(
    trade: Mapping[str, Any],
    client_order_id: str,
    broker: str,
    account: str,
    fee_value: Decimal | None = None,
) -> Fill:
    """A `myTrades` entry (which carries the venue's order id, not ours)."""
    symbol = str(trade["symbol"])
    return Fill(
        exec_id=exec_id(symbol, trade["id"]),
        client_order_id=client_order_id,
        venue_order_id=str(trade["orderId"]),
        broker=broker,
        account=account,
        instrument=key_of(symbol),
        side=Side.BUY if trade.get("isBuyer") else Side.SELL,
        quantity=dec(trade["qty"]),
        price=dec(trade["price"]),
        fee=dec(trade.get("commission", "0")),
        fee_currency=str(trade.get("commissionAsset", "")),
        fee_value=fee_value,
        liquidity=str(Liquidity.MAKER if trade.get("isMaker") else Liquidity.TAKER),
        venue_ts_ns=int(trade.get("time", 0)) * 1_000_000 or None,
    )


def balances(entries: Any, broker: str, account: str) -> list[Balance]:
    """`account["balances"]` ({asset, free, locked}) or an `outboundAccountPosition`'s
    `B` ({a, f, l}) as balances."""
    found: list[Balance] = []
    for entry in entries or []:
        asset = str(entry.get("asset", entry.get("a", "")))
        free = dec(entry.get("free", entry.get("f", "0")))
        locked = dec(entry.get("locked", entry.get("l", "0")))
        if not asset:
            continue
        found.append(
            Balance(
                broker=broker,
                account=account,
                currency=asset,
                total=free + locked,
                available=free,
                locked=locked,
            )
        )
    return found


def fee_value(
    fee: Decimal,
    fee_asset: str,
    price: Decimal,
    base: str,
    quote: str,
    asset_price: Decimal | None = None,
) -> Decimal | None:
    """The fee's worth in the quote currency: None when charged in the quote currency
    (it is its own value) or when a third asset (BNB) has no recent price."""
    if fee == 0 or not fee_asset or fee_asset == quote:
        return None
    if fee_asset == base:
        return fee * price
    if asset_price is None:
        return None
    return fee * asset_price
