"""STOP (Binance STOP_LOSS) and TAKE_PROFIT (market-if-touched) end to end against the
fake Binance (the real python-binance client runs): they rest untriggered, trigger on
the move Binance triggers them on, and fill as MARKET orders; one placed by another
client (Binance's web page) reads back with its own type."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.domain import OrderStatus, OrderType, OrderValidationError, Side, TimeInForce
from tests.contract.test_broker_contract import fills, statuses, updates
from tests.fakes.binance import SymbolSpec
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import ended, once_each, req, settled, wait_for

D = Decimal
S = OrderStatus


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        await session.fake.trade("ETHUSDT", "2000", "0.1")
        yield session


async def test_a_take_profit_buy_rests_then_buys_at_market_when_the_price_falls(
    s: Session,
) -> None:
    caps = s.broker.capabilities
    assert OrderType.TAKE_PROFIT in caps.order_types
    assert caps.tifs_for(OrderType.TAKE_PROFIT) == [TimeInForce.GTC]
    coid = await s.broker.place(
        req(s, qty="0.5", order_type=OrderType.TAKE_PROFIT, limit_price=None, stop_price=D(1995))
    )
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order = s.fake.order_by_client_id(coid)
    assert (order.type, order.stop_price, order.price, order.working) == (
        "TAKE_PROFIT",
        D(1995),
        D(0),
        False,
    )
    # A rise (which would trigger a buy STOP_LOSS): it keeps waiting.
    await s.fake.trade("ETHUSDT", "2010", "0.1")
    assert not s.fake.order_by_client_id(coid).working
    [venue] = await s.broker.open_orders()
    assert (venue.order_type, venue.stop_price, venue.limit_price) == (
        OrderType.TAKE_PROFIT,
        D(1995),
        None,
    )
    # The price falls to 1995: it buys at market, through two ask levels.
    await s.fake.set_book("ETHUSDT", [("1990", "5")], [("1995.5", "0.2"), ("1996", "5")])
    await s.fake.trade("ETHUSDT", "1995", "0.1")
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert [(f.quantity, f.price) for f in fills(events, coid)] == [
        (D("0.2"), D("1995.5")),
        (D("0.3"), D(1996)),
    ]
    once_each(events, coid)


async def test_a_stop_loss_sell_triggers_on_a_fall_and_sells_at_market(s: Session) -> None:
    coid = await s.broker.place(
        req(
            s,
            side=Side.SELL,
            qty="1",
            order_type=OrderType.STOP,
            limit_price=None,
            stop_price=D(1980),
        )
    )
    await wait_for(s, ended(coid, S.NEW), "NEW")
    assert s.fake.order_by_client_id(coid).type == "STOP_LOSS"
    await s.fake.trade("ETHUSDT", "2020", "0.1")  # a rise: waits
    assert not s.fake.order_by_client_id(coid).working
    await s.fake.set_book("ETHUSDT", [("1979", "0.4"), ("1978", "5")], [("1981", "5")])
    await s.fake.trade("ETHUSDT", "1980", "0.1")
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert [(f.side, f.quantity, f.price) for f in fills(events, coid)] == [
        (Side.SELL, D("0.4"), D(1979)),
        (Side.SELL, D("0.6"), D(1978)),
    ]
    once_each(events, coid)


async def test_a_market_stop_with_a_time_in_force_binance_lacks_is_refused_before_sending(
    s: Session,
) -> None:
    journaled = len(await s.events())
    with pytest.raises(OrderValidationError) as info:
        await s.broker.place(
            req(
                s,
                order_type=OrderType.TAKE_PROFIT,
                limit_price=None,
                stop_price=D(1995),
                tif=TimeInForce.IOC,
            )
        )
    assert [(i.field, i.rule) for i in info.value.issues] == [("tif", "supported")]
    assert len(await s.events()) == journaled
    assert ("POST", "/api/v3/order") not in s.fake.requests


async def test_a_take_profit_placed_by_another_client_reads_back_as_one(s: Session) -> None:
    async with binance_client(s.fake) as web:
        await web.create_order(
            symbol="ETHUSDT", side="BUY", type="TAKE_PROFIT", quantity="0.5", stopPrice="1990"
        )
        await web.create_order(
            symbol="ETHUSDT", side="SELL", type="STOP_LOSS", quantity="0.5", stopPrice="1980"
        )
    found = {o.order_type: o for o in await s.broker.open_orders()}
    assert set(found) == {OrderType.TAKE_PROFIT, OrderType.STOP}
    tp, sl = found[OrderType.TAKE_PROFIT], found[OrderType.STOP]
    assert (tp.side, tp.stop_price, tp.limit_price) == (Side.BUY, D(1990), None)
    assert (sl.side, sl.stop_price, sl.limit_price) == (Side.SELL, D(1980), None)
    # Each triggers the way Binance triggers it: the buy take-profit on a fall.
    assert not tp.order_type.triggers_rising(tp.side)
    assert not sl.order_type.triggers_rising(sl.side)


async def test_moving_a_take_profits_stop_replaces_it_as_a_take_profit(s: Session) -> None:
    coid = await s.broker.place(
        req(s, qty="0.5", order_type=OrderType.TAKE_PROFIT, limit_price=None, stop_price=D(1995))
    )
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await s.broker.modify(coid, stop_price=D(1990))
    events = await wait_for(s, lambda ev: len(statuses(ev, coid)) >= 4, "the replace")
    assert updates(events, coid)[-1].stop_price == D(1990)
    venue = [o for o in s.fake.orders.values() if o.client_order_id == coid]
    assert [(o.type, o.status, o.stop_price) for o in venue] == [
        ("TAKE_PROFIT", "CANCELED", D(1995)),
        ("TAKE_PROFIT", "NEW", D(1990)),
    ]
    [venue_order] = await s.broker.open_orders()
    assert (venue_order.order_type, venue_order.stop_price) == (OrderType.TAKE_PROFIT, D(1990))


async def test_a_type_the_symbol_does_not_take_is_refused_before_sending() -> None:
    """exchangeInfo lists the types each symbol takes: one without STOP_LOSS refuses a
    STOP here, naming the field and rule, and the venue and the journal see nothing."""
    no_stops = SymbolSpec("ETHUSDT", "ETH", "USDT", order_types=("LIMIT", "LIMIT_MAKER", "MARKET"))
    async with binance_session(symbols=[no_stops], balances={"ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "5")])
        before = await session.events()
        stop = req(
            session, side=Side.SELL, order_type=OrderType.STOP, limit_price=None, stop_price=D(1980)
        )
        with pytest.raises(OrderValidationError) as refused:
            await session.broker.place(stop)
        assert [(i.field, i.rule) for i in refused.value.issues] == [("order_type", "supported")]
        assert "does not take STOP orders" in str(refused.value)
        assert session.fake.exchange.open_orders() == []
        assert await session.events() == before
