"""A modify at Binance never loses the working order: the adapter refuses, before
anything is sent, a change whose replacement Binance would refuse.

Binance modifies by cancelReplace (STOP_ON_FAILURE): it cancels the old order first,
then places the new one, and when it refuses the new one the old one is gone anyway
(-2021): the desk said `Modify failed: ... nothing is working now`. A trader's review
found two ways a protective order was lost so:

- a triggered STOP_LIMIT (working as a limit) whose Price was changed: its replacement
  is a new STOP_LOSS_LIMIT with the same stop, which Binance refused ("Order would
  trigger immediately.", -2010) while its last trade was through the stop; the same for
  an untriggered stop changed to a stop the last trade has passed;
- a change the account cannot pay for (a buy's new quantity or price beyond the free
  balance plus what the old order frees).

Now `BinanceBroker._replace_refusal` asks Binance's last trade before re-placing a
stop, and reads the free balance the account stream last said: such a change is
refused NOT sent (`OrderRejected`, code `would_lose_order`), the journal keeps the
order as it was, and Binance still works it. A change Binance takes still goes (the
market back past a triggered stop: its replacement waits for its trigger again,
`tests/unit/test_stop_rearm_binance.py`). The real python-binance client runs against
the fake Binance."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import OrderRejected
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_stop_triggered import (  # noqa: F401 (the fixture `s`)
    ETH,
    KEY,
    journal_has,
    s,
    stop_limit_sell,
    triggers,
    updates,
)

S = OrderStatus
REPLACE = ("POST", "/api/v3/order/cancelReplace")


def working_at_binance(session: Session, coid: str) -> list[tuple[D, D, D]]:
    """(quantity, price, stop) of the venue orders working under `coid`."""
    return [
        (o.orig_qty, o.price, o.stop_price)
        for o in session.fake.exchange.orders.values()
        if o.client_order_id == coid and o.is_open
    ]


async def test_a_price_change_of_a_triggered_stop_limit_never_cancels_it(s: Session) -> None:  # noqa: F811
    """The review's case: refused before anything is sent, the order still working at
    Binance as it was (and still triggered on the desk), the refusal saying why and
    what to do."""
    coid = await s.broker.place(stop_limit_sell(s.broker, "trgmod"))
    await journal_has(s.bus, s.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)])
    await s.fake.trade(ETH, "1995", "0.1")  # triggers; the bid 1989 is under its limit 1990
    await journal_has(s.bus, s.stream, lambda ev: bool(triggers(ev, coid)))
    assert s.fake.order_by_client_id(coid).status == "NEW"

    with pytest.raises(OrderRejected) as refused:
        await s.broker.modify(coid, limit_price=D("1985"))
    await s.driver.settle()

    assert REPLACE not in s.fake.requests
    assert working_at_binance(s, coid) == [(D("0.5"), D(1990), D(1995))]
    said = str(refused.value)
    assert refused.value.code == "would_lose_order"
    assert said.startswith(
        f"modify of {coid} not sent: its stop 1,995.00 has triggered and is through "
        "Binance's last trade 1,995.00: Binance would cancel the order and refuse its "
        "replacement"
    )
    assert said.endswith(
        "It works as it was (a limit at 1,990.00); to work at other terms, cancel it and place "
        "a LIMIT (or a stop past the last trade)"
    )
    last = updates(await s.events(), coid)[-1]
    assert (last.status, last.triggered) == (S.NEW, None)  # restored; the trigger kept
    assert last.reason.startswith("modify refused: its stop 1,995.00 has triggered")


async def test_a_stop_changed_through_the_last_trade_is_not_sent(s: Session) -> None:  # noqa: F811
    """An untriggered STOP_LIMIT changed to a stop Binance's last trade (2,000) has
    passed: Binance would cancel it and refuse the new one. Refused NOT sent; a stop
    short of the last trade goes."""
    request = stop_limit_sell(s.broker, "stopmod").model_copy(
        update={"stop_price": D(1980), "limit_price": D(1975)}
    )
    coid = await s.broker.place(request)
    await journal_has(s.bus, s.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)])

    with pytest.raises(
        OrderRejected, match=re.escape("the stop 2,000.00 is through Binance's last trade 2,000.00")
    ):
        await s.broker.modify(coid, stop_price=D(2000))
    await s.driver.settle()
    assert REPLACE not in s.fake.requests
    assert working_at_binance(s, coid) == [(D("0.5"), D(1975), D(1980))]
    assert updates(await s.events(), coid)[-1].status is S.NEW

    await s.broker.modify(coid, stop_price=D(1985))
    await s.driver.settle()
    assert REPLACE in s.fake.requests
    assert working_at_binance(s, coid) == [(D("0.5"), D(1975), D(1985))]


@pytest.fixture
async def poor() -> AsyncIterator[Session]:
    """1,000 USDT; the book 1,999/2,001, the last trade 2,000."""
    async with binance_session(balances={"USDT": "1000"}) as session:
        await session.fake.set_book(ETH, [("1999", "5")], [("2001", "5")])
        await session.fake.trade(ETH, "2000", "0.1")
        yield session


async def test_a_buy_changed_beyond_the_funds_is_not_sent(poor: Session) -> None:
    """BUY 0.4 @ 2,000 locks 800 of 1,000 USDT (200 free). Changed to 0.5 (1,000.00:
    the 200 free and the 800 the old order frees, all of it) Binance takes it; to
    0.50001 (1,000.02) it would cancel the order and refuse the new one: refused NOT
    sent, saying how much the order may take."""
    request = OrderRequest(
        client_order_id="fundmod",
        broker=poor.broker.name,
        account=poor.broker.account,
        instrument=KEY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=D("0.4"),
        limit_price=D(2000),
    )
    coid = await poor.broker.place(request)
    await journal_has(
        poor.bus, poor.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)]
    )
    assert poor.fake.balances["USDT"] == (D(200), D(800))

    await poor.broker.modify(coid, quantity=D("0.5"))  # all there is: Binance takes it
    await poor.driver.settle()
    assert working_at_binance(poor, coid) == [(D("0.5"), D(2000), D(0))]
    assert poor.fake.balances["USDT"] == (D(0), D(1000))
    await journal_has(
        poor.bus,
        poor.stream,
        lambda ev: any(u.status is S.NEW and u.quantity == D("0.5") for u in updates(ev, coid)),
    )
    sent = poor.fake.requests.count(REPLACE)

    with pytest.raises(OrderRejected) as refused:
        await poor.broker.modify(coid, quantity=D("0.50001"))
    await poor.driver.settle()
    assert poor.fake.requests.count(REPLACE) == sent
    assert working_at_binance(poor, coid) == [(D("0.5"), D(2000), D(0))]
    assert str(refused.value) == (
        f"modify of {coid} not sent: the new order locks 1000.02 USDT; 0 USDT is free and "
        "the order holds 1000 (1000 in all): Binance would cancel the order and refuse the "
        "new one for want of funds, and nothing would be working. It works as it was; "
        "change it to a quantity of at most 0.5, or add funds first"
    )
    assert updates(await poor.events(), coid)[-1].status is S.NEW


async def test_a_sell_changed_beyond_the_asset_held_is_not_sent(s: Session) -> None:  # noqa: F811
    """SELL 1.5 ETH @ 2,100 of the 2 held locks 1.5 (0.5 free): 2 goes (all there is),
    2.5 would be cancelled and refused for want of ETH: refused NOT sent."""
    request = OrderRequest(
        client_order_id="sellmod",
        broker=s.broker.name,
        account=s.broker.account,
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.LIMIT,
        quantity=D("1.5"),
        limit_price=D(2100),
    )
    coid = await s.broker.place(request)
    await journal_has(s.bus, s.stream, lambda ev: S.NEW in [u.status for u in updates(ev, coid)])
    await s.broker.modify(coid, quantity=D(2))
    await s.driver.settle()
    assert working_at_binance(s, coid) == [(D(2), D(2100), D(0))]
    await journal_has(
        s.bus,
        s.stream,
        lambda ev: any(u.status is S.NEW and u.quantity == D(2) for u in updates(ev, coid)),
    )
    with pytest.raises(OrderRejected, match=re.escape("the new order locks 2.5 ETH; 0 ETH")):
        await s.broker.modify(coid, quantity=D("2.5"))
    assert s.fake.requests.count(REPLACE) == 1
    assert working_at_binance(s, coid) == [(D(2), D(2100), D(0))]
