"""A modify of a triggered Binance stop re-arms it, and the desk says so.

Binance modifies by cancelReplace: the replacement of a STOP_LOSS_LIMIT is a new venue
order whose stop waits again (`isWorking` false, `workingTime` -1, no `W`), whatever
the order it replaced had done. The adapter forgot its own trigger there (a replacement:
a new stop, which waits), but the journal's report of the replacement said nothing of
the trigger (`triggered` None) and the order only ever took a trigger: the desk kept
reading the order triggered (`64,000.00 trg`, its Stop closed in the modify dialog)
while Binance held a stop that waits again. Now the replacement's report says
`triggered=False` and the order takes it; the replacement's own trigger then marks it
again. The real python-binance client runs against the fake Binance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import recover, replay_stream
from silvertine_tui.events import EventBase, OrderUpdateEvent
from tests.support.binance_broker import Session, binance_session

S = OrderStatus
ETH = "ETHUSDT"
KEY = "ETHUSDT.BINANCE"


def updates(events: list[EventBase], coid: str) -> list[OrderUpdate]:
    return [
        e.payload
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def stop_limit_sell(coid: str) -> OrderRequest:
    """A sell STOP_LIMIT 0.5 ETH: stop 1,995, limit 2,005 (triggered, it rests as a
    limit above the book: a trade below 2,005 does not fill it)."""
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


async def settled(s: Session, engine: TradingEngine, check: Callable[[Order], bool]) -> Order:
    """The desk's order once `check` holds (the adapter may hold a status 0.25 s for
    its account event)."""
    for _ in range(300):
        await s.driver.settle()
        await replay_stream(engine, s.stream)
        view = engine.projection.order("sl1")
        if view is not None and check(view.order):
            return view.order
        await asyncio.sleep(0.01)
    view = engine.projection.order("sl1")
    pytest.fail(f"the desk never got there: {view.order if view else None}")


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book(ETH, [("1989", "5")], [("2001", "5")])
        await session.fake.trade(ETH, "2000", "0.1")  # Binance judges stops on the last trade
        yield session


async def triggered_stop(s: Session) -> TradingEngine:
    """sl1 placed and triggered at Binance (a trade at 1,995), then the market back up
    (a trade at 2,000: a stop at 1,995 would not trigger at once again); the desk reads
    it triggered."""
    engine = TradingEngine(s.bus, [s.broker], RiskConfig())
    await engine.load_instruments()
    await s.broker.place(stop_limit_sell("sl1"))
    await settled(s, engine, lambda o: o.status is S.NEW)
    await s.fake.trade(ETH, "1995", "0.1")
    await settled(s, engine, lambda o: o.triggered)
    await s.fake.trade(ETH, "2000", "0.1")
    return engine


def replacement_id(s: Session) -> str:
    [working] = [o for o in s.fake.exchange.open_orders(ETH) if o.client_order_id == "sl1"]
    return str(working.order_id)


def venue_orders(s: Session) -> list[tuple[str, D, D, bool]]:
    return [
        (o.status, o.stop_price, o.price, o.working)
        for o in s.fake.exchange.orders.values()
        if o.client_order_id == "sl1"
    ]


async def test_a_modify_of_a_triggered_stop_limit_reads_re_armed_as_binance_holds_it(
    s: Session,
) -> None:
    """The modify's answer taken first (the stream's reports held until after it): the
    replacement's report says its stop waits, the desk's order reads untriggered at the
    new limit; a trade at its stop triggers the replacement, and the desk reads that
    trigger too. A desk started again over the journal reads the same."""
    engine = await triggered_stop(s)
    s.fake.reorder_next_reports(1_000)  # the answer first, the reports after it
    await s.broker.modify("sl1", limit_price=D(2008))
    order = await settled(s, engine, lambda o: o.limit_price == D(2008) and o.status is S.NEW)
    await s.fake.release_held_reports()
    await settled(s, engine, lambda o: True)
    assert venue_orders(s) == [
        ("CANCELED", D(1995), D(2005), True),
        ("NEW", D(1995), D(2008), False),
    ]
    replacement = replacement_id(s)
    assert (order.status, order.venue_order_id, order.stop_price) == (S.NEW, replacement, D(1995))
    assert order.triggered is False
    [taken] = [u for u in updates(await s.events(), "sl1") if u.venue_order_id == replacement]
    assert taken.triggered is False
    [listed] = await s.broker.open_orders()
    assert listed.triggered is None  # Binance lists a stop that waits

    # Recovered from the journal (the flat replay path), the desk reads the same.
    fresh = TradingEngine(s.bus, [s.broker], RiskConfig())
    await recover(fresh, [("binance", "spot")])
    view = fresh.projection.order("sl1")
    assert view is not None
    assert (view.order.triggered, view.order.limit_price) == (False, D(2008))

    # The replacement's own trigger: read triggered again.
    await s.fake.trade(ETH, "1995", "0.1")
    order = await settled(s, engine, lambda o: o.triggered)
    assert (order.status, order.venue_order_id) == (S.NEW, replacement)


async def test_the_stream_report_of_the_replacement_re_arms_it_too(s: Session) -> None:
    """The cancelReplace's answer lost (the connection reset once Binance had done it):
    the stream's report of the replacement takes it (its NEW at the new terms; the lost
    answer's check gets no answer meanwhile) and says the stop waits again."""
    engine = await triggered_stop(s)
    s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order/cancelReplace")
    with pytest.raises(BrokerTimeout):
        await s.broker.modify("sl1", limit_price=D(2008))
    s.fake.fail_next_requests(9, after_processing=False)  # the check's queries: no answer
    order = await settled(s, engine, lambda o: o.limit_price == D(2008) and o.status is S.NEW)
    assert (order.venue_order_id, order.triggered) == (replacement_id(s), False)
    [taken] = [
        u for u in updates(await s.events(), "sl1") if u.venue_order_id == order.venue_order_id
    ]
    assert (taken.reason, taken.triggered) == ("", False)  # the stream's report
