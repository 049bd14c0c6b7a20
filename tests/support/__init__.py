"""Shared test helpers: small event builders (the Redis server is in `redis_server`)."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import (
    Balance,
    ConnectionState,
    Fill,
    OrderStatus,
    OrderUpdate,
    Quote,
    Side,
    Trade,
    TradingState,
)
from silvertine_tui.events import (
    BalanceEvent,
    FillEvent,
    Health,
    HealthEvent,
    Log,
    LogEvent,
    OrderUpdateEvent,
    QuoteEvent,
    Risk,
    RiskAction,
    RiskEvent,
    Signal,
    SignalEvent,
    TradeEvent,
)


def fill_event(
    n: int, source: str = "paper/main", instrument: str = "BTCUSDT.BINANCE"
) -> FillEvent:
    """The `n`th fill of an account; `exec_id` and price carry `n`."""
    broker, _, account = source.partition("/")
    return FillEvent.create(
        source,
        Fill(
            exec_id=f"x{n}",
            client_order_id=f"c{n // 3}",
            broker=broker,
            account=account or "default",
            instrument=instrument,
            side=Side.BUY if n % 2 == 0 else Side.SELL,
            quantity=Decimal("0.001") * (n % 7 + 1),
            price=Decimal("50000.5") + n,
        ),
    )


def order_update_event(
    n: int, source: str = "paper/main", status: OrderStatus = OrderStatus.NEW
) -> OrderUpdateEvent:
    return OrderUpdateEvent.create(
        source, OrderUpdate(client_order_id=f"c{n}", status=status, venue_order_id=f"v{n}")
    )


def balance_event(source: str = "paper/main", total: str = "1000") -> BalanceEvent:
    broker, _, account = source.partition("/")
    return BalanceEvent.create(
        source,
        Balance(
            broker=broker,
            account=account,
            currency="USDT",
            total=Decimal(total),
            available=Decimal(total),
        ),
    )


def quote_event(
    instrument: str = "BTCUSDT.BINANCE", bid: str = "100", source: str = "binance"
) -> QuoteEvent:
    price = Decimal(bid)
    return QuoteEvent.create(
        source, Quote(instrument=instrument, bid=price, ask=price + Decimal("0.5"))
    )


def trade_event(
    instrument: str = "BTCUSDT.BINANCE", price: str = "100", source: str = "binance"
) -> TradeEvent:
    return TradeEvent.create(
        source, Trade(instrument=instrument, price=Decimal(price), quantity=Decimal("1"))
    )


def health_event(
    message: str = "ok", state: ConnectionState = ConnectionState.LIVE, component: str = "test"
) -> HealthEvent:
    return HealthEvent.create(component, Health(component=component, state=state, message=message))


def log_event(message: str = "hello") -> LogEvent:
    return LogEvent.create("engine", Log(message=message))


def signal_event(instrument: str = "BTCUSDT.BINANCE") -> SignalEvent:
    return SignalEvent.create(
        "strategy", Signal(strategy="s1", instrument=instrument, side=Side.BUY, price=Decimal("1"))
    )


def risk_event(state: TradingState = TradingState.HALTED) -> RiskEvent:
    return RiskEvent.create(
        "engine", Risk(action=RiskAction.STATE, trading_state=state, message="test")
    )
