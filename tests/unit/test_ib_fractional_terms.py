"""Decimal <-> float at the wire (ib_async sends and hands back floats): fractional
crypto quantities and prices whose float has artefacts (0.1 + 0.2) reach TWS and come
back to the journal exactly."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus, Side, TimeInForce
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, statuses, updates

S = OrderStatus


async def test_fractional_crypto_quantity_and_a_partial_fill_are_exact() -> None:
    async with FakeTws() as fake, desk(fake, symbols=["AAPL", "BTC.USD.PAXOS"]) as d:
        request = d.request(Side.BUY, "0.0007", limit="60000.25", tif=TimeInForce.GTC,
                            key="BTC.USD.PAXOS")  # fmt: skip
        coid = await d.broker.place(request)
        [order] = fake.orders
        assert order.ticket.quantity == Decimal("0.0007")
        assert order.ticket.limit_price == Decimal("60000.25")
        await fake.fill(order.order_id, "0.0003")
        events = await d.wait_journal(
            lambda ev: S.PARTIALLY_FILLED in statuses(ev, coid), "PARTIALLY_FILLED"
        )
        [fill] = fills(events, coid)
        assert fill.quantity == Decimal("0.0003")
        assert updates(events, coid)[-1].filled_qty == Decimal("0.0003")
        await d.broker.modify(coid, quantity=Decimal("0.0009"), limit_price=Decimal("60000.5"))
        assert order.ticket.quantity == Decimal("0.0009")
        last = updates(await d.events(), coid)[-1]
        assert (last.status, last.quantity, last.limit_price) == (
            S.PARTIALLY_FILLED, Decimal("0.0009"), Decimal("60000.5"),
        )  # fmt: skip


async def test_a_forex_price_reaches_tws_as_typed() -> None:
    async with FakeTws() as fake, desk(fake, symbols=["AAPL", "EUR.USD.IDEALPRO"]) as d:
        price = Decimal("0.1") + Decimal("0.2") + Decimal("0.78765")  # 1.08765
        request = d.request(Side.SELL, "20000", limit=str(price), key="EUR.USD.IDEALPRO")
        await d.broker.place(request)
        [order] = fake.orders
        assert order.ticket.limit_price == Decimal("1.08765")
