"""Binance's stops both ways: STOP and TAKE_PROFIT go out as STOP_LOSS and TAKE_PROFIT
with a quantity and a stopPrice only, and every stop type Binance shows us reads back
as one of ours that triggers in the same direction and has the same prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.binance import order_types, translate
from silvertine_tui.domain import OrderRequest, OrderType, Side, TimeInForce

from .test_binance_translate import request

D = Decimal

# Binance's docs (new order, "Trigger order price rules against market price"): a stop
# above the market for STOP_LOSS(_LIMIT) BUY and TAKE_PROFIT(_LIMIT) SELL, below it for
# STOP_LOSS(_LIMIT) SELL and TAKE_PROFIT(_LIMIT) BUY. Above the market: it triggers when
# the price rises to it.
STOP_ABOVE_MARKET = {
    ("STOP_LOSS", "BUY"): True,
    ("STOP_LOSS", "SELL"): False,
    ("TAKE_PROFIT", "BUY"): False,
    ("TAKE_PROFIT", "SELL"): True,
    ("STOP_LOSS_LIMIT", "BUY"): True,
    ("STOP_LOSS_LIMIT", "SELL"): False,
    ("TAKE_PROFIT_LIMIT", "BUY"): False,
    ("TAKE_PROFIT_LIMIT", "SELL"): True,
}


def stop(**fields: Any) -> OrderRequest:
    """A sell of 0.1 with a stop at 1980 (and no limit unless given)."""
    return request(**{"side": Side.SELL, "limit_price": None, "stop_price": D("1980.00")} | fields)


def found_at_venue(venue_type: str, side: str, **fields: Any) -> dict[str, Any]:
    """An open order as `openOrders` shows one placed on Binance's web page."""
    return {
        "symbol": "ETHUSDT",
        "orderId": 9,
        "clientOrderId": "web_Xy12",
        "price": "0.00000000",
        "origQty": "0.50000000",
        "executedQty": "0.00000000",
        "cummulativeQuoteQty": "0.00000000",
        "status": "NEW",
        "timeInForce": "GTC",
        "type": venue_type,
        "side": side,
        "stopPrice": "1995.00000000",
        **fields,
    }


@pytest.mark.parametrize(
    ("kind", "venue_type"),
    [(OrderType.STOP, "STOP_LOSS"), (OrderType.TAKE_PROFIT, "TAKE_PROFIT")],
)
def test_a_market_stop_carries_a_quantity_and_a_stop_price_only(
    kind: OrderType, venue_type: str
) -> None:
    params = translate.order_params(stop(order_type=kind), "ETHUSDT")
    assert params == {
        "symbol": "ETHUSDT",
        "side": "SELL",
        "type": venue_type,
        "quantity": "0.1",
        "stopPrice": "1980",
        "newClientOrderId": "st-1",
        "newOrderRespType": "RESULT",
    }


def test_a_take_profit_placed_on_the_web_page_reads_back_as_one() -> None:
    venue = translate.venue_order(found_at_venue("TAKE_PROFIT", "BUY"))
    assert (venue.order_type, venue.side, venue.tif) == (
        OrderType.TAKE_PROFIT,
        Side.BUY,
        TimeInForce.GTC,
    )
    assert (venue.stop_price, venue.limit_price, venue.quantity) == (D(1995), None, D("0.5"))
    # It triggers when the price falls to 1995, as Binance's TAKE_PROFIT BUY does.
    assert not venue.order_type.triggers_rising(venue.side)
    stop_loss = translate.venue_order(found_at_venue("STOP_LOSS", "BUY"))
    assert (stop_loss.order_type, stop_loss.limit_price) == (OrderType.STOP, None)


@given(st.sampled_from(sorted(STOP_ABOVE_MARKET)))
def test_every_binance_stop_reads_as_ours_triggering_the_same_way(
    case: tuple[str, str],
) -> None:
    venue_type, side = case
    limit = "1990.00000000" if venue_type.endswith("_LIMIT") else "0.00000000"
    venue = translate.venue_order(found_at_venue(venue_type, side, price=limit))
    ours = venue.order_type
    assert ours.triggers_rising(venue.side) is STOP_ABOVE_MARKET[case]
    assert ours.has_stop_price
    assert venue.stop_price == D(1995)
    assert ours.has_limit_price is venue_type.endswith("_LIMIT")
    assert ours.market_on_trigger is (not venue_type.endswith("_LIMIT"))
    report = translate.ExecutionReport.parse(
        {"e": "executionReport", "s": "ETHUSDT", "c": "web_Xy12", "S": side, "o": venue_type}
        | {"i": 9, "x": "NEW", "X": "NEW", "q": "0.5", "P": "1995", "p": limit}
    )
    assert order_types.ORDER_TYPE[report.venue_type] is ours


@given(
    st.sampled_from([t for t in OrderType if t.has_stop_price]),
    st.sampled_from(list(Side)),
    st.decimals(D("0.01"), D("100000"), places=2),
)
def test_every_stop_of_ours_goes_out_and_reads_back_as_itself(
    kind: OrderType, side: Side, price: Decimal
) -> None:
    limit = price if kind.has_limit_price else None
    params = translate.order_params(
        stop(order_type=kind, side=side, stop_price=price, limit_price=limit), "ETHUSDT"
    )
    assert STOP_ABOVE_MARKET[(params["type"], params["side"])] is kind.triggers_rising(side)
    assert ("price" in params, "timeInForce" in params) == (limit is not None, limit is not None)
    back = translate.venue_order(
        found_at_venue(
            params["type"],
            params["side"],
            stopPrice=params["stopPrice"],
            price=params.get("price", "0"),
        )
    )
    assert (back.order_type, back.stop_price, back.limit_price) == (kind, price, limit)
