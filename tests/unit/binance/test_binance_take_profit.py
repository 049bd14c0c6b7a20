"""TAKE_PROFIT_LIMIT against the fake Binance (the real python-binance client runs): a
buy starts working when a trade falls to its stop, a sell when one rises to it; a move
the other way leaves it waiting; once working it fills at its limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.brokers.binance import translate
from silvertine_tui.domain import OrderStatus, OrderType, Side
from tests.contract.test_broker_contract import fills
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import ended, once_each, req, settled, wait_for

D = Decimal
S = OrderStatus
TP = OrderType.TAKE_PROFIT_LIMIT


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        yield session


@pytest.mark.parametrize(
    ("side", "stop", "limit", "away", "touch", "crossing"),
    [
        # a buy: waits through a rise, works when a trade falls to 1995, fills at 1996
        (Side.BUY, "1995", "1996", "2010", "1995", ([("1990", "5")], [("1996", "5")])),
        # a sell: waits through a fall, works when a trade rises to 2005, fills at 2004
        (Side.SELL, "2005", "2004", "1990", "2005", ([("2004", "5")], [("2010", "5")])),
    ],
)
async def test_take_profit_limit_triggers_the_other_way_from_a_stop(
    s: Session,
    side: Side,
    stop: str,
    limit: str,
    away: str,
    touch: str,
    crossing: tuple[list[tuple[str, str]], list[tuple[str, str]]],
) -> None:
    assert TP in s.broker.capabilities.order_types
    coid = await s.broker.place(
        req(s, side=side, qty="0.5", order_type=TP, stop_price=D(stop), limit_price=D(limit))
    )
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order = s.fake.order_by_client_id(coid)
    assert (order.type, order.stop_price, order.price) == ("TAKE_PROFIT_LIMIT", D(stop), D(limit))
    await s.fake.trade("ETHUSDT", away, "0.1")
    assert not s.fake.order_by_client_id(coid).working  # the wrong way: still waiting
    await s.fake.trade("ETHUSDT", touch, "0.1")
    assert s.fake.order_by_client_id(coid).working
    await s.fake.set_book("ETHUSDT", *crossing)
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert [(f.quantity, f.price) for f in fills(events, coid)] == [(D("0.5"), D(limit))]
    once_each(events, coid)


def test_a_take_profit_found_at_the_venue_reads_as_one() -> None:
    body = {
        "symbol": "ETHUSDT",
        "orderId": 7,
        "clientOrderId": "x1",
        "price": "1996",
        "origQty": "0.5",
        "executedQty": "0",
        "cummulativeQuoteQty": "0",
        "status": "NEW",
        "timeInForce": "GTC",
        "type": "TAKE_PROFIT_LIMIT",
        "side": "BUY",
        "stopPrice": "1995",
    }
    venue = translate.venue_order(body)
    assert (venue.order_type, venue.stop_price, venue.limit_price) == (TP, D(1995), D(1996))
