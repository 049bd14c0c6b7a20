"""MARKET orders for an amount of the quote asset against the fake Binance (the real
python-binance client runs): `quoteOrderQty` goes out and never `quantity`, the base
quantity the journal shows is what the fills hold, the amount is never overspent, and a
request Binance would refuse is refused before anything is journaled."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from silvertine_tui.domain import (
    ApplyResult,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderValidationError,
    Side,
    TimeInForce,
)
from tests.contract.test_broker_contract import fills, replay_orders, statuses
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import KEY, ended, once_each, settled, wait_for

D = Decimal
S = OrderStatus


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book(
            "ETHUSDT", [("1999", "0.1"), ("1998", "5")], [("2001", "0.2"), ("2002", "5")]
        )
        yield session


def spend(s: Session, amount: str, side: Side = Side.BUY, **fields: object) -> OrderRequest:
    fields.setdefault("order_type", OrderType.MARKET)
    fields.setdefault("tif", TimeInForce.IOC)
    return OrderRequest.model_validate(
        {
            "broker": s.broker.name,
            "account": s.broker.account,
            "instrument": KEY,
            "side": side,
            "quote_quantity": D(amount),
            **fields,
        }
    )


async def test_the_broker_says_it_takes_quote_amounts(s: Session) -> None:
    assert s.broker.capabilities.quote_quantity_market
    eth = await s.broker.instrument(KEY)
    assert eth.quote_step == D("0.00000001")  # quoteAssetPrecision 8


@pytest.mark.parametrize(
    ("side", "amount"),
    [(Side.BUY, "1000"), (Side.SELL, "700.5")],
)
async def test_an_amount_is_sent_as_quote_order_qty_and_never_overspent(
    s: Session, side: Side, amount: str
) -> None:
    coid = await s.broker.place(spend(s, amount, side))
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    venue = s.fake.order_by_client_id(coid)
    assert (venue.type, venue.orig_quote_qty) == ("MARKET", D(amount))
    done = fills(events, coid)
    assert len(done) == 2, "the amount walked two levels"
    spent = sum((f.quantity * f.price for f in done), D(0))
    assert D(amount) - D(1) < spent <= D(amount)
    # The journal's order: base quantity from the fills, the venue's FILLED ends it.
    orders, results = replay_orders(events)
    order = orders[coid]
    assert order.request.quantity is None
    assert order.request.quote_quantity == D(amount)
    assert order.status is S.FILLED
    assert order.filled_qty == venue.executed_qty == sum((f.quantity for f in done), D(0))
    assert order.filled_quote == spent == venue.cum_quote
    assert results[ApplyResult.OVERFILL] == 0
    assert statuses(events, coid)[0] is S.PENDING_NEW
    once_each(events, coid)


async def test_what_binance_would_refuse_is_refused_before_the_journal(s: Session) -> None:
    journaled = len(await s.events())
    refused = [
        (spend(s, "100.000000001"), "quote_step"),
        (
            spend(s, "100", order_type=OrderType.LIMIT, limit_price=D("1990"), tif="GTC"),
            "market_only",
        ),
        (spend(s, "100", quantity=D("0.05")), "not_with_quantity"),
    ]
    for request, rule in refused:
        with pytest.raises(OrderValidationError) as caught:
            await s.broker.place(request)
        assert ("quote_quantity", rule) in {(i.field, i.rule) for i in caught.value.issues}
    assert len(await s.events()) == journaled
    assert not [r for r in s.fake.requests if r[0] == "POST" and r[1].endswith("/order")]
