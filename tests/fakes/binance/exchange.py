"""Matching and account state of the fake: orders, balances, trades and a test-driven book.

Pure and synchronous: every public operation returns its answer and leaves the user-data
events (`executionReport`, `outboundAccountPosition`, `balanceUpdate`) in `user_events`
and the market-data changes in `market_events`, for the server to deliver. Amounts are
`Decimal` inside and fixed-point strings on the wire, as Binance sends them.

The market only moves when the test says so (`set_book`, `trade`, `fill`). A new order
that can trade takes liquidity from the book (walking the levels, taker); a resting order
trades at its own price (maker) when the test moves the book or prints a trade through it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any, Literal

from tests.fakes.binance.filters import ORDER_TYPES, FilterFailure, SymbolSpec, wire

ZERO = Decimal("0")
FEE_PLACES = Decimal("0.00000001")
OPEN = ("NEW", "PARTIALLY_FILLED")
# Orders that wait for a trade to reach their stopPrice. STOP_LOSS and TAKE_PROFIT then
# send a MARKET order (so they carry no price and no timeInForce), the *_LIMIT ones a
# limit. A STOP_LOSS* triggers on a move against its side (a buy's rise, a sell's fall),
# a TAKE_PROFIT* on the move the other way.
STOP_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
STOP_LOSS_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT")
# Orders that trade as a MARKET (the stops among them once triggered).
MARKET_TYPES = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
# Orders sent with a price and a timeInForce.
PRICED_TYPES = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
INSUFFICIENT = "Account has insufficient balance for requested action."
UNKNOWN_ORDER = "Unknown order sent."
AMEND_REJECTED = -2038  # errors.md: ORDER_AMEND_REJECTED, with the engine's message


class BinanceError(Exception):
    """An error answer: `{"code": code, "msg": msg}` with HTTP `status`."""

    def __init__(
        self, code: int, msg: str, status: int = 400, data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.data = data

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.data is not None:
            body["data"] = self.data
        return body


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


@dataclass(frozen=True)
class Commission:
    """Fee rates and where the fee is charged.

    `mode`: "received" (Binance's default: base asset on buys, quote asset on sells),
    "base", "quote", or "bnb" (the quote value of the fee converted at `bnb_price`, a BNB
    price in the symbol's quote asset; falls back to the received asset when the BNB
    balance cannot pay, as Binance does).
    """

    maker_rate: Decimal = Decimal("0.001")
    taker_rate: Decimal = Decimal("0.001")
    mode: Literal["received", "base", "quote", "bnb"] = "received"
    bnb_price: Decimal = Decimal("600")
    bnb_asset: str = "BNB"


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


@dataclass
class Order:
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    stop_price: Decimal
    orig_quote_qty: Decimal
    time: int
    lock_asset: str
    locked: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    working: bool = True
    working_time: int = -1
    update_time: int = 0
    cancel_client_id: str = ""
    amends: int = 0  # amends taken (MAX_NUM_ORDER_AMENDS)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def is_market(self) -> bool:
        return self.type in MARKET_TYPES

    def on_book(self) -> bool:
        return self.is_open and self.working and not self.is_market


@dataclass(frozen=True)
class Trade:
    trade_id: int
    symbol: str
    order_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def wire(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": wire(self.price),
            "qty": wire(self.qty),
            "quoteQty": wire(self.price * self.qty),
            "commission": wire(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }


DAY_MS = 86_400_000


@dataclass
class Rolling24h:
    """A symbol's 24 h rolling window statistics, as the 24hr ticker and the
    `@miniTicker` stream report them. The fake keeps no 24 h of history: the window
    holds the `trade()` prints since the start (our own fills are not printed, as on
    the `@trade` stream), and its open is the first of them unless a test set it
    (`set_24h_open`: the price 24 h ago)."""

    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None
    last: Decimal | None = None
    last_qty: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)
    quote_volume: Decimal = Decimal(0)
    count: int = 0
    first_id: int = -1
    last_id: int = -1

    def printed(self, price: Decimal, qty: Decimal, trade_id: int) -> None:
        if self.open is None:
            self.open = price
        self.high = price if self.high is None else max(self.high, price)
        self.low = price if self.low is None else min(self.low, price)
        self.last, self.last_qty = price, qty
        self.volume += qty
        self.quote_volume += price * qty
        self.count += 1
        if self.first_id < 0:
            self.first_id = trade_id
        self.last_id = trade_id


@dataclass
class Book:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    update_id: int = 1000
    last_price: Decimal | None = None
    rolling: Rolling24h = field(default_factory=Rolling24h)

    def best_bid(self) -> Decimal | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> Decimal | None:
        return min(self.asks) if self.asks else None

    def levels(self, side: str) -> list[tuple[Decimal, Decimal]]:
        """Bids best first (high to low) or asks best first (low to high)."""
        if side == "bids":
            return sorted(self.bids.items(), reverse=True)
        return sorted(self.asks.items())

    def reference(self) -> Decimal | None:
        """The price market orders and the percent-price filter are judged against."""
        if self.last_price is not None:
            return self.last_price
        bid, ask = self.best_bid(), self.best_ask()
        if bid is not None and ask is not None:
            return (bid + ask) / 2
        return bid if bid is not None else ask


@dataclass(frozen=True)
class MarketEvent:
    """`kind` is "bookTicker", "depthUpdate", "trade" or "miniTicker"; the server fans
    it out to the streams of that name."""

    kind: str
    symbol: str
    payload: dict[str, Any]


def parse_decimal(params: Mapping[str, str], name: str) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; "
            "legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    return value


class Exchange:
    def __init__(
        self,
        symbols: Iterable[SymbolSpec],
        balances: Mapping[str, Decimal | str | int],
        commission: Commission,
        clock_ms: Callable[[], int],
    ) -> None:
        self.specs: dict[str, SymbolSpec] = {s.symbol: s for s in symbols}
        self.balances: dict[str, Balance] = {
            asset: Balance(free=Decimal(str(amount))) for asset, amount in balances.items()
        }
        self.commission = commission
        self.now = clock_ms
        self.books: dict[str, Book] = {name: Book() for name in self.specs}
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.user_events: list[dict[str, Any]] = []
        self.market_events: list[MarketEvent] = []
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._execution_ids = itertools.count(1)
        self._client_ids = itertools.count(1)
        self._touched: set[str] = set()
        # `outboundAccountPosition` events still to drop (`FakeBinance.lose_next_account_event`).
        self.account_events_lost = 0

    # ----------------------------------------------------------------- lookups

    def spec(self, symbol: str | None) -> SymbolSpec:
        if not symbol:
            raise mandatory("symbol")
        spec = self.specs.get(symbol)
        if spec is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return spec

    def balance(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def find(self, symbol: str, order_id: str | None, client_id: str | None) -> Order | None:
        """Binance's rule: by `orderId` first, then the client id must match that order."""
        if order_id is None and client_id is None:
            raise BinanceError(
                -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )
        if order_id is not None:
            try:
                order = self.orders.get(int(order_id))
            except ValueError:
                raise mandatory("orderId") from None
            if order is None or order.symbol != symbol:
                return None
            if client_id is not None and order.client_order_id != client_id:
                return None
            return order
        matches = [
            o for o in self.orders.values() if o.symbol == symbol and o.client_order_id == client_id
        ]
        open_matches = [o for o in matches if o.is_open]
        if open_matches:
            return open_matches[-1]
        return matches[-1] if matches else None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [
            o for o in self.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)
        ]

    def new_client_id(self) -> str:
        return f"fake{next(self._client_ids):018d}"

    # ------------------------------------------------------------- placement

    def validate(self, p: Mapping[str, str]) -> dict[str, Any]:
        """Parse and check a new order's parameters against the symbol's filters."""
        spec = self.spec(p.get("symbol"))
        side = p.get("side")
        if not side:
            raise mandatory("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        kind = p.get("type")
        if not kind:
            raise mandatory("type")
        if kind not in ORDER_TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        if kind not in spec.order_types:
            raise BinanceError(-2010, "Unsupported order combination")
        tif = p.get("timeInForce")
        needs_tif = kind in PRICED_TYPES and kind != "LIMIT_MAKER"
        if needs_tif and not tif:
            raise mandatory("timeInForce")
        if tif is not None and tif not in ("GTC", "IOC", "FOK"):
            raise BinanceError(-1115, "Invalid timeInForce.")
        if not needs_tif and tif is not None:
            raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
        qty = parse_decimal(p, "quantity")
        quote_qty = parse_decimal(p, "quoteOrderQty")
        price = parse_decimal(p, "price")
        stop = parse_decimal(p, "stopPrice")
        market = kind == "MARKET"
        if market:
            if qty is None and quote_qty is None:
                raise BinanceError(
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if qty is not None and quote_qty is not None:
                raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            if price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
        else:
            if qty is None:
                raise mandatory("quantity")
            if kind in PRICED_TYPES and price is None:
                raise mandatory("price")
            if kind not in PRICED_TYPES and price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            if quote_qty is not None:
                raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        if kind in STOP_TYPES and stop is None:
            raise mandatory("stopPrice")
        if kind not in STOP_TYPES and stop is not None:
            raise BinanceError(-1106, "Parameter 'stopPrice' sent when not required.")
        book = self.books[spec.symbol]
        reference = book.reference()
        try:
            if price is not None:
                spec.check_price(price)
            if stop is not None:
                spec.check_price(stop)
            if qty is not None:
                spec.check_lot(qty, market=market)
            if market:
                ref = reference
                if qty is not None and ref is not None:
                    spec.check_notional(ref, qty, market=True)
                elif quote_qty is not None and (spec.apply_min_to_market or ref is not None):
                    spec.check_notional(Decimal(1), quote_qty, market=True)
            elif price is not None:
                assert qty is not None
                spec.check_percent_price(side, price, reference)
                spec.check_notional(price, qty, market=False)
            else:  # STOP_LOSS / TAKE_PROFIT: the notional at the stop
                assert stop is not None
                assert qty is not None
                spec.check_notional(stop, qty, market=False)
        except FilterFailure as failure:
            raise BinanceError(-1013, f"Filter failure: {failure.filter_type}") from None
        return {
            "spec": spec,
            "side": side,
            "type": kind,
            "tif": tif or "GTC",
            "qty": qty,
            "quote_qty": quote_qty,
            "price": price,
            "stop": stop,
        }

    def place(self, p: Mapping[str, str]) -> tuple[Order, list[Trade]]:
        v = self.validate(p)
        spec: SymbolSpec = v["spec"]
        side: str = v["side"]
        kind: str = v["type"]
        client_id = p.get("newClientOrderId") or self.new_client_id()
        if any(o.client_order_id == client_id for o in self.open_orders(spec.symbol)):
            raise BinanceError(-2010, "Duplicate order sent.")
        if spec.status != "TRADING":
            raise BinanceError(-2010, "Market is closed.")
        book = self.books[spec.symbol]
        price: Decimal = v["price"] if v["price"] is not None else ZERO
        stop: Decimal = v["stop"] if v["stop"] is not None else ZERO
        qty: Decimal | None = v["qty"]
        quote_qty: Decimal | None = v["quote_qty"]
        now = self.now()

        if kind == "MARKET":
            qty, cost = self._market_quantity(spec, side, qty, quote_qty)
            lock_asset = spec.quote_asset if side == "BUY" else spec.base_asset
            need = cost if side == "BUY" else qty
            if self.balance(lock_asset).free < need:
                raise BinanceError(-2010, INSUFFICIENT)
        else:
            assert qty is not None
            if kind == "LIMIT_MAKER" and self._crosses(book, side, price):
                raise BinanceError(-2010, "Order would immediately match and take.")
            if kind in STOP_TYPES and self._stop_triggered(kind, side, stop, book.last_price):
                raise BinanceError(-2010, "Order would trigger immediately.")
            lock_asset = spec.quote_asset if side == "BUY" else spec.base_asset
            # A stop-market buy holds its quantity at the stop until it triggers.
            need = (price or stop) * qty if side == "BUY" else qty
            if self.balance(lock_asset).free < need:
                raise BinanceError(-2010, INSUFFICIENT)

        order = Order(
            symbol=spec.symbol,
            order_id=next(self._order_ids),
            client_order_id=client_id,
            side=side,
            type=kind,
            time_in_force=v["tif"],
            price=price,
            orig_qty=qty,
            stop_price=stop,
            orig_quote_qty=quote_qty if quote_qty is not None else ZERO,
            time=now,
            update_time=now,
            lock_asset=lock_asset,
            working=kind not in STOP_TYPES,
            working_time=now if kind not in STOP_TYPES else -1,
        )
        self.orders[order.order_id] = order
        with self._operation(spec.symbol):
            if kind != "MARKET":
                self._lock(order, need)
            self._report(order, "NEW")
            fills = self._take(order) if order.working else []
        return order, fills

    def _market_quantity(
        self, spec: SymbolSpec, side: str, qty: Decimal | None, quote_qty: Decimal | None
    ) -> tuple[Decimal, Decimal]:
        """The base quantity a market order will trade and its quote cost on the book."""
        levels = self.books[spec.symbol].levels("asks" if side == "BUY" else "bids")
        if not levels:
            raise BinanceError(-2010, "Order book liquidity is less than symbol minimum quantity.")
        if qty is not None:
            cost, left = ZERO, qty
            for level_price, level_qty in levels:
                take = min(left, level_qty)
                cost += take * level_price
                left -= take
                if left == 0:
                    break
            return qty, cost
        assert quote_qty is not None
        budget, total, cost = quote_qty, ZERO, ZERO
        for level_price, level_qty in levels:
            take = spec.step_down(min(level_qty, budget / level_price), market=True)
            if take <= 0:
                break
            total += take
            cost += take * level_price
            budget -= take * level_price
        if total <= 0:
            raise BinanceError(-2010, "Order book liquidity is less than symbol minimum quantity.")
        return total, cost

    @staticmethod
    def _crosses(book: Book, side: str, price: Decimal) -> bool:
        if side == "BUY":
            ask = book.best_ask()
            return ask is not None and ask <= price
        bid = book.best_bid()
        return bid is not None and bid >= price

    @staticmethod
    def _stop_triggered(kind: str, side: str, stop: Decimal, last: Decimal | None) -> bool:
        if last is None:
            return False
        rises = (kind in STOP_LOSS_TYPES) == (side == "BUY")
        return last >= stop if rises else last <= stop

    # ------------------------------------------------------------ execution

    def _take(self, order: Order) -> list[Trade]:
        """Trade a new (or just triggered) order against the book as taker."""
        book = self.books[order.symbol]
        side_name = "asks" if order.side == "BUY" else "bids"
        levels = book.levels(side_name)
        market = order.is_market
        crossing = [
            (p, q)
            for p, q in levels
            if market or (p <= order.price if order.side == "BUY" else p >= order.price)
        ]
        fok = order.type == "LIMIT" and order.time_in_force == "FOK"
        if fok and sum((q for _, q in crossing), ZERO) < order.orig_qty:
            self._expire(order)
            return []
        fills: list[Trade] = []
        levels_map = book.asks if order.side == "BUY" else book.bids
        for level_price, level_qty in crossing:
            if order.remaining <= 0:
                break
            take = min(order.remaining, level_qty)
            fills.append(self._execute(order, take, level_price, maker=False))
            if level_qty - take > 0:
                levels_map[level_price] = level_qty - take
            else:
                del levels_map[level_price]
        if order.is_open and (market or order.time_in_force in ("IOC", "FOK")):
            self._expire(order)
        return fills

    def _execute(self, order: Order, qty: Decimal, price: Decimal, *, maker: bool) -> Trade:
        spec = self.specs[order.symbol]
        base, quote = self.balance(spec.base_asset), self.balance(spec.quote_asset)
        notional = qty * price
        if order.side == "BUY":
            if order.is_market:
                quote.free -= notional
            else:
                release = order.locked if qty == order.remaining else order.price * qty
                order.locked -= release
                quote.locked -= release
                quote.free += release - notional
            base.free += qty
        else:
            if order.is_market:
                base.free -= qty
            else:
                order.locked -= qty
                base.locked -= qty
            quote.free += notional
        self._touched.update((spec.base_asset, spec.quote_asset))
        fee, fee_asset = self._charge(spec, order.side, qty, notional, maker=maker)
        order.executed_qty += qty
        order.cum_quote += notional
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        order.update_time = self.now()
        trade = Trade(
            trade_id=next(self._trade_ids),
            symbol=order.symbol,
            order_id=order.order_id,
            price=price,
            qty=qty,
            commission=fee,
            commission_asset=fee_asset,
            time=order.update_time,
            is_buyer=order.side == "BUY",
            is_maker=maker,
        )
        self.trades.append(trade)
        self._report(order, "TRADE", trade=trade)
        return trade

    def _charge(
        self, spec: SymbolSpec, side: str, qty: Decimal, notional: Decimal, *, maker: bool
    ) -> tuple[Decimal, str]:
        c = self.commission
        rate = c.maker_rate if maker else c.taker_rate
        received = spec.base_asset if side == "BUY" else spec.quote_asset
        asset = {"received": received, "base": spec.base_asset, "quote": spec.quote_asset}.get(
            c.mode, c.bnb_asset
        )
        if asset == c.bnb_asset and c.mode == "bnb":
            fee = (notional * rate / c.bnb_price).quantize(FEE_PLACES, rounding=ROUND_UP)
            if self.balance(c.bnb_asset).free < fee:
                asset = received
        if asset == spec.base_asset:
            fee = (qty * rate).quantize(FEE_PLACES, rounding=ROUND_UP)
        elif asset == spec.quote_asset:
            fee = (notional * rate).quantize(FEE_PLACES, rounding=ROUND_UP)
        self.balance(asset).free -= fee
        self._touched.add(asset)
        return fee, asset

    def _expire(self, order: Order) -> None:
        order.status = "EXPIRED"
        self._release(order)
        order.update_time = self.now()
        self._report(order, "EXPIRED")

    def _lock(self, order: Order, amount: Decimal) -> None:
        bal = self.balance(order.lock_asset)
        bal.free -= amount
        bal.locked += amount
        order.locked = amount
        self._touched.add(order.lock_asset)

    def _release(self, order: Order) -> None:
        if order.locked:
            bal = self.balance(order.lock_asset)
            bal.locked -= order.locked
            bal.free += order.locked
            order.locked = ZERO
            self._touched.add(order.lock_asset)

    # ---------------------------------------------------------- cancelling

    def cancel(
        self,
        symbol: str | None,
        order_id: str | None,
        client_id: str | None,
        cancel_client_id: str | None = None,
    ) -> Order:
        spec = self.spec(symbol)
        order = self.find(spec.symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise BinanceError(-2011, UNKNOWN_ORDER)
        with self._operation(spec.symbol):
            order.status = "CANCELED"
            order.update_time = self.now()
            order.cancel_client_id = cancel_client_id or self.new_client_id()
            self._release(order)
            self._report(
                order,
                "CANCELED",
                client_id=order.cancel_client_id,
                orig_client_id=order.client_order_id,
            )
        return order

    # ------------------------------------------------------------- amending

    def amend(self, p: Mapping[str, str]) -> tuple[Order, int]:
        """Order Amend Keep Priority (`PUT /api/v3/order/amend/keepPriority`): the
        order's quantity (`origQty`) lowered to `newQty` in place. It keeps its order id
        and its place among the orders at its price (`orders` stays in time order, and
        the fake fills working orders in that order), takes `newClientOrderId` (else a
        new random one; the current one may be sent to keep it), frees what it held
        beyond the new quantity and sends an executionReport `x` REPLACED. Returns the
        order and the amend's execution id.

        Refused (-2038 ORDER_AMEND_REJECTED, errors.md's messages), the order unchanged:
        an order not open ("Unknown order sent."), a symbol without `amendAllowed`,
        `newQty` above the order's quantity ("Order amend (quantity increase) is not
        supported.") or equal to it ("The requested action would change no state;
        rejecting."), more than MAX_NUM_ORDER_AMENDS amends. `newQty` off the LOT_SIZE
        grid is -1013. A `newQty` not above what has filled ends the order: EXPIRED,
        the rest freed (the docs say only that an amend can expire the order, CHANGELOG
        2026-04-02; the fake's reading)."""
        spec = self.spec(p.get("symbol"))
        new_qty = parse_decimal(p, "newQty")
        if new_qty is None:
            raise mandatory("newQty")
        order = self.find(spec.symbol, p.get("orderId"), p.get("origClientOrderId"))
        if order is None or not order.is_open:
            raise BinanceError(AMEND_REJECTED, UNKNOWN_ORDER)
        if not spec.amend_allowed:
            raise BinanceError(AMEND_REJECTED, "Order amend is not supported for this symbol.")
        try:
            spec.check_lot(new_qty, market=False)
        except FilterFailure as failure:
            raise BinanceError(-1013, f"Filter failure: {failure.filter_type}") from None
        if new_qty > order.orig_qty:
            raise BinanceError(AMEND_REJECTED, "Order amend (quantity increase) is not supported.")
        if new_qty == order.orig_qty:
            raise BinanceError(
                AMEND_REJECTED, "The requested action would change no state; rejecting."
            )
        if order.amends >= spec.max_order_amends:
            raise BinanceError(AMEND_REJECTED, "Filter failure: MAX_NUM_ORDER_AMENDS")
        new_client = p.get("newClientOrderId") or self.new_client_id()
        if new_client != order.client_order_id and any(
            o.client_order_id == new_client for o in self.open_orders(spec.symbol)
        ):
            raise BinanceError(AMEND_REJECTED, "Duplicate order sent.")
        with self._operation(spec.symbol):
            cut = order.orig_qty - new_qty
            # What the cut frees: a buy's quantity at its price (a stop-market buy's
            # at its stop), a sell's quantity; no more than it holds.
            freed = cut * (order.price or order.stop_price) if order.side == "BUY" else cut
            freed = min(freed, order.locked)
            if freed > 0:
                bal = self.balance(order.lock_asset)
                bal.locked -= freed
                bal.free += freed
                order.locked -= freed
                self._touched.add(order.lock_asset)
            original = order.client_order_id
            order.client_order_id = new_client
            order.amends += 1
            order.update_time = self.now()
            if new_qty <= order.executed_qty:
                order.orig_qty = order.executed_qty
                order.status = "EXPIRED"
                self._release(order)
            else:
                order.orig_qty = new_qty
            event = self._report(order, "REPLACED", client_id=new_client, orig_client_id=original)
        return order, int(event["I"])

    def amend_wire(self, order: Order, original: str) -> dict[str, Any]:
        """`amendedOrder` of the amend's answer (rest-api.md): `qty` (not `origQty`),
        `cumulativeQuoteQty` (spelt so here), `origClientOrderId` the id it had."""
        body: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "origClientOrderId": original,
            "clientOrderId": order.client_order_id,
            "price": wire(order.price),
            "qty": wire(order.orig_qty),
            "executedQty": wire(order.executed_qty),
            "preventedQty": wire(ZERO),
            "quoteOrderQty": wire(order.orig_quote_qty),
            "cumulativeQuoteQty": wire(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
        }
        if order.type in STOP_TYPES:
            body["stopPrice"] = wire(order.stop_price)
        if order.working_time >= 0:
            body["workingTime"] = order.working_time
        body["selfTradePreventionMode"] = "EXPIRE_MAKER"
        return body

    # ------------------------------------------------- test-driven market

    def set_book(
        self,
        symbol: str,
        bids: Iterable[tuple[Decimal, Decimal]],
        asks: Iterable[tuple[Decimal, Decimal]],
    ) -> None:
        """Replace the book; resting orders it crosses trade as makers at their own price."""
        book = self.books[self.spec(symbol).symbol]
        with self._operation(symbol):
            book.bids = {Decimal(p): Decimal(q) for p, q in bids if Decimal(q) > 0}
            book.asks = {Decimal(p): Decimal(q) for p, q in asks if Decimal(q) > 0}
            for order in self._working(symbol):
                side_name = "asks" if order.side == "BUY" else "bids"
                levels_map = book.asks if order.side == "BUY" else book.bids
                for level_price, level_qty in book.levels(side_name):
                    if order.remaining <= 0:
                        break
                    crosses = (
                        level_price <= order.price
                        if order.side == "BUY"
                        else level_price >= order.price
                    )
                    if not crosses:
                        break
                    take = min(order.remaining, level_qty)
                    self._execute(order, take, order.price, maker=True)
                    if level_qty - take > 0:
                        levels_map[level_price] = level_qty - take
                    else:
                        del levels_map[level_price]

    def trade(self, symbol: str, price: Decimal, qty: Decimal, *, buyer_is_maker: bool) -> None:
        """Print a trade: resting orders at or through `price` fill (up to `qty`) as
        makers; stop orders whose stop price the trade reaches start working."""
        spec = self.spec(symbol)
        book = self.books[spec.symbol]
        with self._operation(symbol):
            book.last_price = price
            now = self.now()
            trade_id = next(self._trade_ids)
            self.market_events.append(
                MarketEvent(
                    "trade",
                    spec.symbol,
                    {
                        "e": "trade",
                        "E": now,
                        "s": spec.symbol,
                        "t": trade_id,
                        "p": wire(price),
                        "q": wire(qty),
                        "T": now,
                        "m": buyer_is_maker,
                        "M": True,
                    },
                )
            )
            book.rolling.printed(price, qty, trade_id)
            self._mini_ticker_changed(spec.symbol)
            left = qty
            for order in self._working(symbol):
                if left <= 0:
                    break
                through = price <= order.price if order.side == "BUY" else price >= order.price
                if through:
                    take = min(order.remaining, left)
                    self._execute(order, take, order.price, maker=True)
                    left -= take
            for order in list(self.open_orders(spec.symbol)):
                if not order.working and self._stop_triggered(
                    order.type, order.side, order.stop_price, price
                ):
                    self._start(order)

    def _start(self, order: Order) -> None:
        """A triggered stop starts working. A STOP_LOSS or TAKE_PROFIT is then a MARKET
        order: what it held is freed, and a buy the book would cost more than the free
        quote asset expires (as Binance's own MARKET would be refused)."""
        order.working = True
        order.working_time = self.now()
        if order.is_market:
            self._release(order)
        self._report(order, "NEW")
        if order.is_market and order.side == "BUY":
            spec = self.specs[order.symbol]
            try:
                _, cost = self._market_quantity(spec, "BUY", order.remaining, None)
            except BinanceError:
                cost = None
            if cost is None or self.balance(spec.quote_asset).free < cost:
                self._expire(order)
                return
        self._take(order)

    def fill(
        self, order_id: int, qty: Decimal | None = None, price: Decimal | None = None
    ) -> Trade:
        """Fill (part of) a working order as maker, at its price unless `price` is given."""
        order = self.orders.get(order_id)
        if order is None or not order.is_open:
            raise ValueError(f"order {order_id} is not open at the fake")
        take = order.remaining if qty is None else qty
        if take <= 0 or take > order.remaining:
            raise ValueError(
                f"fill of {take} does not fit order {order_id} ({order.remaining} left)"
            )
        with self._operation(order.symbol):
            at = price if price is not None else order.price
            if order.is_market or at == 0:
                raise ValueError("fill needs a price for this order")
            return self._execute(order, take, at, maker=True)

    def deposit(self, asset: str, delta: Decimal) -> None:
        """A deposit (or, negative, a withdrawal): `balanceUpdate` then the new position."""
        bal = self.balance(asset)
        bal.free += delta
        now = self.now()
        self.user_events.append(
            {"e": "balanceUpdate", "E": now, "a": asset, "d": wire(delta), "T": now}
        )
        self._touched.add(asset)
        self._flush_account()

    def _working(self, symbol: str) -> list[Order]:
        return [o for o in self.open_orders(symbol) if o.on_book()]

    # ---------------------------------------------------------- depth data

    def set_24h_open(self, symbol: str, price: Decimal) -> None:
        """The price 24 h ago, the window's open (it rolls on at the venue)."""
        spec = self.spec(symbol)
        self.books[spec.symbol].rolling.open = price
        self._mini_ticker_changed(spec.symbol)

    def _mini_ticker_changed(self, symbol: str) -> None:
        payload = self.mini_ticker(symbol)
        if payload is not None:
            self.market_events.append(MarketEvent("miniTicker", symbol, payload))

    def mini_ticker(self, symbol: str) -> dict[str, Any] | None:
        """The `<symbol>@miniTicker` payload (None while the window has no open: Binance
        pushes nothing for a symbol that has not traded)."""
        spec = self.spec(symbol)
        r = self.books[spec.symbol].rolling
        if r.open is None:
            return None
        last = r.last if r.last is not None else r.open
        return {
            "e": "24hrMiniTicker",
            "E": self.now(),
            "s": spec.symbol,
            "c": wire(last),
            "o": wire(r.open),
            "h": wire(r.high if r.high is not None else max(r.open, last)),
            "l": wire(r.low if r.low is not None else min(r.open, last)),
            "v": wire(r.volume),
            "q": wire(r.quote_volume),
        }

    def ticker_24h(self, symbol: str, *, mini: bool = False) -> dict[str, Any]:
        """GET /api/v3/ticker/24hr's answer for one symbol (`type` FULL, or MINI). A
        window with no trade reads zeros, as Binance answers for a symbol that has not
        traded; `prevClosePrice` is the window's open (the fake has no earlier day)."""
        spec = self.spec(symbol)
        book = self.books[spec.symbol]
        r = book.rolling
        zero = Decimal(0)
        opened = r.open if r.open is not None else zero
        last = r.last if r.last is not None else opened
        now = self.now()
        body: dict[str, Any] = {
            "symbol": spec.symbol,
            "openPrice": wire(opened),
            "highPrice": wire(r.high if r.high is not None else last),
            "lowPrice": wire(r.low if r.low is not None else last),
            "lastPrice": wire(last),
            "volume": wire(r.volume),
            "quoteVolume": wire(r.quote_volume),
            "openTime": now - DAY_MS,
            "closeTime": now,
            "firstId": r.first_id,
            "lastId": r.last_id,
            "count": r.count,
        }
        if mini:
            return body
        change = last - opened
        percent = (change / opened * 100) if opened else zero
        average = r.quote_volume / r.volume if r.volume else zero
        bid, ask = book.best_bid(), book.best_ask()
        return {
            "symbol": spec.symbol,
            "priceChange": wire(change),
            "priceChangePercent": f"{percent:.3f}",
            "weightedAvgPrice": wire(average),
            "prevClosePrice": wire(opened),
            "lastPrice": wire(last),
            "lastQty": wire(r.last_qty),
            "bidPrice": wire(bid if bid is not None else zero),
            "bidQty": wire(book.bids[bid] if bid is not None else zero),
            "askPrice": wire(ask if ask is not None else zero),
            "askQty": wire(book.asks[ask] if ask is not None else zero),
            **{k: v for k, v in body.items() if k != "symbol"},
        }

    def depth(self, symbol: str, limit: int = 100) -> dict[str, Any]:
        book = self.books[self.spec(symbol).symbol]
        return {
            "lastUpdateId": book.update_id,
            "bids": [[wire(p), wire(q)] for p, q in book.levels("bids")[:limit]],
            "asks": [[wire(p), wire(q)] for p, q in book.levels("asks")[:limit]],
        }

    @contextmanager
    def _operation(self, symbol: str) -> Iterator[None]:
        """Emit the market-data diff and the account position after a change."""
        book = self.books[symbol]
        before_bids, before_asks = dict(book.bids), dict(book.asks)
        before_top = (book.best_bid(), book.best_ask())
        try:
            yield
        finally:
            self._flush_account()
            changed_bids = _diff(before_bids, book.bids)
            changed_asks = _diff(before_asks, book.asks)
            if changed_bids or changed_asks:
                first = book.update_id + 1
                book.update_id += 1
                self.market_events.append(
                    MarketEvent(
                        "depthUpdate",
                        symbol,
                        {
                            "e": "depthUpdate",
                            "E": self.now(),
                            "s": symbol,
                            "U": first,
                            "u": book.update_id,
                            "b": [[wire(p), wire(q)] for p, q in changed_bids],
                            "a": [[wire(p), wire(q)] for p, q in changed_asks],
                        },
                    )
                )
            top = (book.best_bid(), book.best_ask())
            if top != before_top and top[0] is not None and top[1] is not None:
                self.market_events.append(
                    MarketEvent(
                        "bookTicker",
                        symbol,
                        {
                            "u": book.update_id,
                            "s": symbol,
                            "b": wire(top[0]),
                            "B": wire(book.bids[top[0]]),
                            "a": wire(top[1]),
                            "A": wire(book.asks[top[1]]),
                        },
                    )
                )

    # ------------------------------------------------------------- events

    def _report(
        self,
        order: Order,
        execution: str,
        *,
        trade: Trade | None = None,
        client_id: str | None = None,
        orig_client_id: str = "",
    ) -> dict[str, Any]:
        now = self.now()
        event: dict[str, Any] = {
            "e": "executionReport",
            "E": now,
            "s": order.symbol,
            "c": client_id or order.client_order_id,
            "S": order.side,
            "o": order.type,
            "f": order.time_in_force,
            "q": wire(order.orig_qty),
            "p": wire(order.price),
            "P": wire(order.stop_price),
            "F": wire(ZERO),
            "g": -1,
            "C": orig_client_id,
            "x": execution,
            "X": order.status,
            "r": "NONE",
            "i": order.order_id,
            "l": wire(trade.qty if trade else ZERO),
            "z": wire(order.executed_qty),
            "L": wire(trade.price if trade else ZERO),
            "n": wire(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": trade.time if trade else now,
            "t": trade.trade_id if trade else -1,
            "I": next(self._execution_ids),
            "w": order.on_book(),
            "m": trade.is_maker if trade else False,
            "M": False,
            "O": order.time,
            "Z": wire(order.cum_quote),
            "Y": wire(trade.qty * trade.price if trade else ZERO),
            "Q": wire(order.orig_quote_qty),
            "V": "EXPIRE_MAKER",
        }
        if order.working_time >= 0 and order.type != "MARKET":
            event["W"] = order.working_time
        self.user_events.append(event)
        return event

    def _flush_account(self) -> None:
        if not self._touched:
            return
        if self.account_events_lost:
            self.account_events_lost -= 1
            self._touched.clear()
            return
        now = self.now()
        self.user_events.append(
            {
                "e": "outboundAccountPosition",
                "E": now,
                "u": now,
                "B": [
                    {"a": a, "f": wire(self.balance(a).free), "l": wire(self.balance(a).locked)}
                    for a in sorted(self._touched)
                ],
            }
        )
        self._touched.clear()

    def take_user_events(self) -> list[dict[str, Any]]:
        events, self.user_events = self.user_events, []
        return events

    def take_market_events(self) -> list[MarketEvent]:
        events, self.market_events = self.market_events, []
        return events

    # --------------------------------------------------------- wire views

    def order_wire(self, order: Order, *, query: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": wire(order.price),
            "origQty": wire(order.orig_qty),
            "executedQty": wire(order.executed_qty),
            "origQuoteOrderQty": wire(order.orig_quote_qty),
            "cummulativeQuoteQty": wire(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
        }
        if query:
            body.update(
                {
                    "stopPrice": wire(order.stop_price),
                    "icebergQty": wire(ZERO),
                    "time": order.time,
                    "updateTime": order.update_time,
                    "isWorking": order.working,
                }
            )
        elif order.type in STOP_TYPES:
            body["stopPrice"] = wire(order.stop_price)
        # When it started working; -1 for a stop that has not triggered (rest-api.md's
        # order list answers: `"workingTime": -1` for the STOP_LOSS_LIMIT leg).
        body["workingTime"] = order.working_time
        body["selfTradePreventionMode"] = "EXPIRE_MAKER"
        return body

    def account_wire(self, omit_zero: bool = False) -> dict[str, Any]:
        c = self.commission
        return {
            "makerCommission": int(c.maker_rate * 10000),
            "takerCommission": int(c.taker_rate * 10000),
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": wire(c.maker_rate),
                "taker": wire(c.taker_rate),
                "buyer": wire(ZERO),
                "seller": wire(ZERO),
            },
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.now(),
            "accountType": "SPOT",
            "balances": [
                {"asset": a, "free": wire(b.free), "locked": wire(b.locked)}
                for a, b in sorted(self.balances.items())
                if not omit_zero or b.free or b.locked
            ],
            "permissions": ["SPOT"],
            "uid": 354937868,
        }


def _diff(
    before: dict[Decimal, Decimal], after: dict[Decimal, Decimal]
) -> list[tuple[Decimal, Decimal]]:
    changed = [(p, q) for p, q in after.items() if before.get(p) != q]
    changed += [(p, ZERO) for p in before if p not in after]
    return sorted(changed)
