"""A Binance stop that triggered while the desk was stopped reads triggered after the
start-up reconcile.

The reconcile compared the journal's working orders with Binance's listing by status
and terms only (`engine/recovery.py`, step 4): a stop that triggered while the desk was
down is NEW at both ends with the same terms, so nothing was journaled, and the desk
read it waiting (no `trg`, its Stop open to a change Binance refuses) until it filled or
the user stream reconnected. Binance's listing says it (`isWorking`:
`VenueOrder.triggered`): the reconcile now journals the trigger, once, as an update of
the status the order has that says `triggered` and why. The real python-binance client
runs against the fake Binance; the desk is started again over the journal."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker, recover, replay_stream
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session, build_broker

S = OrderStatus
ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"


def stop_limit_sell(coid: str) -> OrderRequest:
    """A sell STOP_LIMIT 0.5 ETH: stop 1,995, limit 2,005 (triggered, it rests above the
    book: the trade that triggers it does not fill it)."""
    return OrderRequest(
        client_order_id=coid,
        broker="binance",
        account="spot",
        instrument=KEY,
        side=Side.SELL,
        order_type=OrderType.STOP_LIMIT,
        quantity=D("0.5"),
        stop_price=D(1995),
        limit_price=D(2005),
    )


async def updates(s: Session, coid: str) -> list[OrderUpdate]:
    return [
        e.event.payload
        for e in await s.bus.read(s.stream)
        if isinstance(e.event, OrderUpdateEvent) and e.event.payload.client_order_id == coid
    ]


async def journaled_new(s: Session, engine: TradingEngine, coid: str) -> None:
    for _ in range(300):
        await replay_stream(engine, s.stream)
        view = engine.projection.order(coid)
        if view is not None and view.order.status is S.NEW:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the order never reached the journal NEW")


async def test_a_stop_triggered_while_the_desk_was_stopped_reads_triggered_after_start() -> None:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as s:
        await s.fake.set_book(ETH, [("1989", "5")], [("2001", "5")])
        await s.fake.trade(ETH, "2000", "0.1")
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(stop_limit_sell("sl1"))
        await s.broker.place(stop_limit_sell("sl2").model_copy(update={"stop_price": D(1950)}))
        await journaled_new(s, engine, "sl1")
        await journaled_new(s, engine, "sl2")
        await s.broker.close()  # the desk stops

        # Away: a trade at 1,995 triggers sl1 (not sl2, stop 1,950) at Binance.
        await s.fake.trade(ETH, "1995", "0.1")
        assert s.fake.order_by_client_id("sl1").working
        assert not s.fake.order_by_client_id("sl2").working

        # Started again over the journal.
        desk = TradingEngine(s.bus, [], RiskConfig())
        await recover(desk, [("binance", "spot")])
        again = build_broker(s.fake, s.bus, [ETH])
        desk.brokers["binance"] = again
        try:
            await again.connect()
            await desk.load_instruments()
            view = desk.projection.order("sl1")
            assert view is not None
            assert view.order.triggered is False  # the journal's word so far
            await reconcile_broker(desk, again)
            await replay_stream(desk, s.stream)
            view = desk.projection.order("sl1")
            assert view is not None
            assert (view.order.status, view.order.triggered) == (S.NEW, True)
            waiting = desk.projection.order("sl2")
            assert waiting is not None
            assert waiting.order.triggered is False
            [trigger] = [u for u in await updates(s, "sl1") if u.triggered]
            assert trigger.status is S.NEW
            assert "triggered" in trigger.reason
            assert "reconcile" in trigger.reason
            assert [u for u in await updates(s, "sl2") if u.triggered] == []

            # Once: a later reconcile finds nothing more to say.
            await reconcile_broker(desk, again)
            await replay_stream(desk, s.stream)
            assert len([u for u in await updates(s, "sl1") if u.triggered]) == 1
        finally:
            await again.close()
