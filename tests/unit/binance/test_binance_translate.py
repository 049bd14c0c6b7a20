"""Our orders as Binance parameters; Binance's reports, orders and trades as ours."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.brokers.binance import translate
from silvertine_tui.domain import (
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)


def request(**fields: Any) -> OrderRequest:
    base: dict[str, Any] = {
        "client_order_id": "st-1",
        "broker": "binance",
        "account": "spot",
        "instrument": "ETHUSDT.BINANCE",
        "side": Side.BUY,
        "order_type": OrderType.LIMIT,
        "quantity": Decimal("0.10"),
        "limit_price": Decimal("1990.50"),
    }
    base.update(fields)
    return OrderRequest(**base)


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK])
def test_limit_carries_its_time_in_force_and_our_id(tif: TimeInForce) -> None:
    params = translate.order_params(request(tif=tif), "ETHUSDT", response_type="FULL")
    assert params == {
        "symbol": "ETHUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": str(tif),
        "quantity": "0.1",
        "price": "1990.5",
        "newClientOrderId": "st-1",
        "newOrderRespType": "FULL",
    }


def test_post_only_is_limit_maker_without_time_in_force() -> None:
    params = translate.order_params(request(post_only=True), "ETHUSDT")
    assert params["type"] == "LIMIT_MAKER"
    assert "timeInForce" not in params


def test_market_has_no_time_in_force_nor_price() -> None:
    params = translate.order_params(
        request(order_type=OrderType.MARKET, limit_price=None, tif=TimeInForce.IOC), "ETHUSDT"
    )
    assert params["type"] == "MARKET"
    assert "timeInForce" not in params
    assert "price" not in params


def test_stop_limit_is_stop_loss_limit_with_its_stop_price() -> None:
    params = translate.order_params(
        request(order_type=OrderType.STOP_LIMIT, side=Side.SELL, stop_price=Decimal("1980")),
        "ETHUSDT",
    )
    assert (params["type"], params["stopPrice"], params["price"], params["timeInForce"]) == (
        "STOP_LOSS_LIMIT",
        "1980",
        "1990.5",
        "GTC",
    )


REPORT: dict[str, Any] = {
    "e": "executionReport",
    "E": 1700000000100,
    "s": "ETHUSDT",
    "c": "st-1",
    "S": "BUY",
    "o": "LIMIT",
    "f": "GTC",
    "q": "3.00000000",
    "p": "1990.00000000",
    "P": "0.00000000",
    "C": "",
    "x": "TRADE",
    "X": "PARTIALLY_FILLED",
    "r": "NONE",
    "i": 42,
    "l": "1.00000000",
    "z": "2.00000000",
    "L": "1990.00000000",
    "n": "0.00100000",
    "N": "ETH",
    "T": 1700000000099,
    "t": 7,
    "m": True,
    "Z": "3970.00000000",
}


def test_a_trade_report_is_a_fill_and_a_cumulative_update() -> None:
    report = translate.ExecutionReport.parse(REPORT)
    assert report.is_trade
    fill = report.fill("binance", "spot", Decimal("1.99"))
    assert fill.exec_id == "ETHUSDT-7"
    assert (fill.quantity, fill.price, fill.fee, fill.fee_currency) == (
        Decimal(1),
        Decimal(1990),
        Decimal("0.001"),
        "ETH",
    )
    assert (fill.liquidity, fill.venue_order_id, fill.venue_ts_ns) == (
        "MAKER",
        "42",
        1700000000099 * 1_000_000,
    )
    update = report.update()
    assert (update.status, update.filled_qty, update.avg_price) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal(2),
        Decimal("1985"),
    )


def test_a_cancel_report_names_the_order_by_its_original_id() -> None:
    report = translate.ExecutionReport.parse(
        {**REPORT, "x": "CANCELED", "X": "CANCELED", "c": "cancel-9", "C": "st-1", "t": -1}
    )
    assert report.client_order_id == "st-1"
    assert not report.is_trade
    assert report.update().status is OrderStatus.CANCELED


def test_a_rejected_report_says_why() -> None:
    report = translate.ExecutionReport.parse(
        {**REPORT, "x": "REJECTED", "X": "REJECTED", "r": "INSUFFICIENT_BALANCES", "t": -1}
    )
    assert "INSUFFICIENT_BALANCES" in report.update().reason


def test_fee_value_in_the_quote_currency() -> None:
    price = Decimal("2000")
    assert translate.fee_value(Decimal("0.2"), "USDT", price, "ETH", "USDT") is None
    assert translate.fee_value(Decimal("0.001"), "ETH", price, "ETH", "USDT") == Decimal("2.000")
    assert translate.fee_value(
        Decimal("0.01"), "BNB", price, "ETH", "USDT", Decimal("600")
    ) == Decimal("6.00")
    assert translate.fee_value(Decimal("0.01"), "BNB", price, "ETH", "USDT", None) is None
    assert translate.fee_value(Decimal(0), "BNB", price, "ETH", "USDT", Decimal(1)) is None


def test_an_order_as_the_venue_shows_it() -> None:
    body = {
        "symbol": "ETHUSDT",
        "orderId": 5,
        "clientOrderId": "st-1",
        "price": "1990.00000000",
        "origQty": "3.00000000",
        "executedQty": "1.00000000",
        "cummulativeQuoteQty": "1990.00000000",
        "status": "PARTIALLY_FILLED",
        "timeInForce": "GTC",
        "type": "STOP_LOSS_LIMIT",
        "side": "SELL",
        "stopPrice": "1980.00000000",
    }
    venue = translate.venue_order(body)
    assert (venue.client_order_id, venue.venue_order_id, venue.instrument) == (
        "st-1",
        "5",
        "ETHUSDT.BINANCE",
    )
    assert (venue.order_type, venue.side, venue.tif) == (
        OrderType.STOP_LIMIT,
        Side.SELL,
        TimeInForce.GTC,
    )
    assert (venue.quantity, venue.filled_qty, venue.avg_price) == (
        Decimal(3),
        Decimal(1),
        Decimal(1990),
    )
    assert (venue.limit_price, venue.stop_price) == (Decimal(1990), Decimal(1980))
    market = translate.venue_order({**body, "type": "MARKET", "stopPrice": "0", "price": "0"})
    assert (market.order_type, market.tif, market.limit_price) == (
        OrderType.MARKET,
        TimeInForce.IOC,
        None,
    )


def test_a_trade_from_my_trades() -> None:
    trade = {
        "symbol": "ETHUSDT",
        "id": 9,
        "orderId": 5,
        "price": "1990.00000000",
        "qty": "0.50000000",
        "commission": "0.99500000",
        "commissionAsset": "USDT",
        "time": 1700000000000,
        "isBuyer": False,
        "isMaker": False,
    }
    fill = translate.trade_fill(trade, "st-1", "binance", "spot")
    assert (fill.exec_id, fill.side, fill.liquidity) == ("ETHUSDT-9", Side.SELL, "TAKER")
    assert (fill.fee, fill.fee_currency, fill.fee_value) == (Decimal("0.995"), "USDT", None)


def test_balances_from_the_account_and_from_the_stream() -> None:
    account = [{"asset": "ETH", "free": "1.50000000", "locked": "0.50000000"}]
    stream = [{"a": "USDT", "f": "100.00000000", "l": "0.00000000"}]
    [eth] = translate.balances(account, "binance", "spot")
    [usdt] = translate.balances(stream, "binance", "spot")
    assert (eth.total, eth.available, eth.locked) == (Decimal(2), Decimal("1.5"), Decimal("0.5"))
    assert (usdt.currency, usdt.total) == ("USDT", Decimal(100))
