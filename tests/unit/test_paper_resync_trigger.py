"""What a dropped link loses, the reconnect's resync publishes: triggers and new terms.

The paper venue keeps trading while its link is down (`drop_link`) and its reports are
lost; on `restore_link` the adapter publishes what the journal lacks. It published
missing fills and changed statuses only. A stop that triggered and rested at its limit
stays NEW, so its trigger never reached the journal, and a restart waited for the
trigger again while the live venue had it resting; a replace whose answer was lost left
the journal with the old terms (and a grown order's fills an overfill of them). A stop
triggered at arrival whose answer was lost (`lose_next_order_answer`) lost its trigger
the same way.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerTimeout, InsufficientFunds
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.events import OrderUpdateEvent
from tests.unit.test_paper_restart import ETH, eth_book, limit, paper_config

SLOW_REPORTS = {"ack_ms": 10, "fill_ms": 400, "cancel_ms": 0, "jitter_ms": 0}
"""Reports of a fill wait 400 ms in the outbox: an answer made meanwhile queues behind
them, and a link dropped before they leave loses it with them."""


def stop_order(
    coid: str,
    side: Side,
    qty: str,
    stop: str,
    limit_price: str | None = None,
    kind: OrderType = OrderType.STOP_LIMIT,
) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=side,
        order_type=kind,
        quantity=D(qty),
        stop_price=D(stop),
        limit_price=D(limit_price) if limit_price is not None else None,
        tif=TimeInForce.GTC,
    )


async def updates(bus: MemoryBus, coid: str) -> list[tuple[OrderStatus, str]]:
    found = []
    async for entry in bus.replay(bus.layout.exec("paper", "main")):
        event = entry.event
        if isinstance(event, OrderUpdateEvent) and event.payload.client_order_id == coid:
            found.append((event.payload.status, event.payload.reason))
    return found


async def restarted(bus: MemoryBus) -> PaperBroker:
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    return broker


async def fill_report_on_its_way(broker: PaperBroker) -> None:
    """A buy filled by the market: its reports wait in the outbox (the fill latency)."""
    await broker.place(limit("F", Side.BUY, "0.1", "1999.00", TimeInForce.GTC))
    await broker.on_market_data(eth_book([("1989.00", "5")], [("1998.90", "5")]))


# -- a stop triggered while the link is down ------------------------------------------------


async def test_a_stop_limit_triggered_on_a_dead_link_rests_at_its_limit_after_a_restart() -> None:
    bus = MemoryBus()
    await bus.start()
    live = PaperBroker(paper_config(), bus)
    await live.connect()
    await live.on_market_data(eth_book([("1999.50", "5")], [("2000.50", "5")]))
    await live.place(stop_order("SL", Side.BUY, "1", "2001.00", "2001.10"))
    await live.drop_link()
    # The ask jumps to 2,001.50: the stop triggers; its limit 2,001.10 is below the
    # asks, so it rests there. The TRIGGERED report is lost with the link.
    await live.on_market_data(eth_book([("2001.00", "5")], [("2001.50", "5")]))
    await live.settle()
    await live.restore_link()
    await live.settle()
    sl = live.venue.order("SL")
    assert sl is not None
    assert sl.triggered
    assert (OrderStatus.NEW, "stop triggered: ask 2,001.50 >= stop 2,001.00") in await updates(
        bus, "SL"
    )
    await live.close()

    second = await restarted(bus)
    again = second.venue.order("SL")
    assert again is not None
    assert again.triggered, "the restart waits for the trigger again"
    assert again.slot is not None
    assert again.slot[0] == "buy"  # resting at its limit, as it was live
    # The asks fall to 2,000.00: the buy resting at 2,001.10 is traded through.
    await second.on_market_data(eth_book([("1999.00", "5")], [("2000.00", "5")]))
    await second.settle()
    assert (again.status, again.filled_qty) == (OrderStatus.FILLED, D("1"))
    await second.close()
    await bus.close()


async def test_a_stop_triggered_at_arrival_whose_answer_was_lost_keeps_its_trigger() -> None:
    bus = MemoryBus()
    await bus.start()
    live = PaperBroker(paper_config(), bus)
    await live.connect()
    await live.on_market_data(eth_book([("2001.00", "5")], [("2001.50", "5")]))
    live.lose_next_order_answer()
    # Already through its stop: it triggers at once and rests at its limit 2,001.10.
    with pytest.raises(BrokerTimeout):
        await live.place(stop_order("SL", Side.BUY, "1", "2001.00", "2001.10"))
    found = await live.query_order("SL")  # what `resolve_unknown` asks
    assert found is not None
    sl = live.venue.order("SL")
    assert sl is not None
    assert sl.triggered
    await live.settle()
    await live.close()

    second = await restarted(bus)
    again = second.venue.order("SL")
    assert again is not None
    assert again.triggered, "the restart waits for the trigger again"
    await second.close()
    await bus.close()


# -- a replace whose answer went out on a dead link -----------------------------------------


@pytest.mark.parametrize("fills_after", [False, True])
async def test_a_replace_lost_on_a_dead_link_is_journaled_with_its_terms(fills_after: bool) -> None:
    bus = MemoryBus()
    await bus.start()
    live = PaperBroker(paper_config(latency=SLOW_REPORTS), bus)
    await live.connect()
    await live.on_market_data(eth_book([("1989.50", "5")], [("2000.50", "5")]))
    await live.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
    await fill_report_on_its_way(live)
    modify = asyncio.create_task(live.modify("A", quantity=D("2"), limit_price=D("1991.00")))
    await asyncio.sleep(0.05)  # replaced at the venue; its answer queued behind the fill
    await live.drop_link()
    [outcome] = await asyncio.gather(modify, return_exceptions=True)
    if fills_after:
        # Grown to 2 at the venue, it fills 2 while the link is down.
        await live.on_market_data(eth_book([("1980.00", "5")], [("1990.00", "5")]))
    await live.settle()
    await live.restore_link()
    await live.settle()
    a = live.venue.order("A")
    assert a is not None
    assert (a.quantity, a.limit_price) == (D("2"), D("1991.00"))
    await live.close()

    second = await restarted(bus)
    again = second.venue.order("A")
    assert again is not None
    assert (again.quantity, again.limit_price) == (D("2"), D("1991.00"))
    if fills_after:
        assert (again.status, again.filled_qty) == (OrderStatus.FILLED, D("2"))
    else:
        assert (again.status, again.filled_qty) == (OrderStatus.NEW, D("0"))
    await second.close()
    await bus.close()
    # The modify had no answer: said so (its outcome is asked on the reconcile), as a
    # place whose answer is lost is.
    assert isinstance(outcome, BrokerTimeout), repr(outcome)


async def test_a_replace_and_an_order_lost_together_keep_their_time_priority() -> None:
    bus = MemoryBus()
    await bus.start()
    live = PaperBroker(paper_config(latency=SLOW_REPORTS), bus)
    await live.connect()
    await live.on_market_data(eth_book([("1989.50", "5")], [("2000.50", "5")]))
    await live.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
    await fill_report_on_its_way(live)
    # B reaches the venue at 1,991.00, then A is moved there: B is ahead of A. Both
    # answers wait behind the fill's reports, and the link drops before they leave.
    place_b = asyncio.create_task(live.place(limit("B", Side.BUY, "1", "1991.00", TimeInForce.GTC)))
    await asyncio.sleep(0.03)
    modify_a = asyncio.create_task(live.modify("A", limit_price=D("1991.00")))
    await asyncio.sleep(0.03)
    await live.drop_link()
    await asyncio.gather(place_b, modify_a, return_exceptions=True)
    await live.settle()
    await live.restore_link()
    await live.settle()
    queue = [(o.client_order_id, o.limit_price) for o in live.venue._insts[ETH].buys.orders]
    assert queue == [("B", D("1991.00")), ("A", D("1991.00"))]
    await live.close()

    second = await restarted(bus)
    restored = [(o.client_order_id, o.limit_price) for o in second.venue._insts[ETH].buys.orders]
    assert restored == queue, f"queue after the restart: {restored}, live: {queue}"
    await second.close()
    await bus.close()


async def test_a_refused_modify_whose_answer_was_lost_is_answered_on_reconnect() -> None:
    bus = MemoryBus()
    await bus.start()
    live = PaperBroker(paper_config(latency=SLOW_REPORTS), bus)
    await live.connect()
    await live.on_market_data(eth_book([("1989.50", "5")], [("2000.50", "5")]))
    await live.place(limit("A", Side.BUY, "1", "1990.00", TimeInForce.GTC))
    await fill_report_on_its_way(live)
    # More than the account can pay for: refused; the refusal queues behind the fill.
    modify = asyncio.create_task(live.modify("A", quantity=D("1000")))
    await asyncio.sleep(0.05)
    await live.drop_link()
    [outcome] = await asyncio.gather(modify, return_exceptions=True)
    assert isinstance(outcome, InsufficientFunds), repr(outcome)
    await live.settle()
    assert (await updates(bus, "A"))[-1][0] is OrderStatus.PENDING_REPLACE
    await live.restore_link()
    await live.settle()
    status, reason = (await updates(bus, "A"))[-1]
    assert status is OrderStatus.NEW, "the journal still shows the modify pending"
    assert reason.startswith("insufficient balance: need")  # the refusal, as the venue said it
    await live.close()
    await bus.close()


# -- the property: a restart after a reconnect holds what the live venue holds -------------


# The kinds that rest at their limit once triggered, twice as often.
KINDS = (
    OrderType.LIMIT,
    OrderType.STOP,
    OrderType.STOP_LIMIT,
    OrderType.STOP_LIMIT,
    OrderType.TAKE_PROFIT_LIMIT,
    OrderType.TAKE_PROFIT_LIMIT,
)


@st.composite
def working_orders(draw: st.DrawFn, coid: str) -> OrderRequest:
    kind = draw(st.sampled_from(KINDS))
    side = draw(st.sampled_from((Side.BUY, Side.SELL)))
    qty = draw(st.sampled_from(("0.5", "1", "2")))
    # Prices in quarter points around 2,000.00.
    stop = D("2000.00") + draw(st.integers(-16, 16)) * D("0.25")
    limit_price = stop + draw(st.integers(-4, 4)) * D("0.25")
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=side,
        order_type=kind,
        quantity=D(qty),
        stop_price=stop if kind.has_stop_price else None,
        limit_price=limit_price if kind.has_limit_price else None,
        tif=TimeInForce.GTC,
    )


@st.composite
def books(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    bid = D("2000.00") + draw(st.integers(-16, 16)) * D("0.25")
    spread = draw(st.integers(1, 4)) * D("0.25")
    bids = [(str(bid - i * D("0.25")), draw(st.sampled_from(("0.5", "1", "3")))) for i in range(3)]
    asks = [
        (str(bid + spread + i * D("0.25")), draw(st.sampled_from(("0.5", "1", "3"))))
        for i in range(3)
    ]
    return bids, asks


def state(broker: PaperBroker) -> dict[str, tuple[object, ...]]:
    """Each order as the venue holds it (whether a finished one had triggered is no
    matter: it trades no more)."""
    return {
        coid: (
            o.status,
            o.filled_qty,
            o.quantity,
            o.limit_price,
            o.stop_price,
            o.triggered and not o.status.is_terminal,
            o.slot[0] if o.slot is not None else None,
        )
        for coid, o in broker.venue.orders.items()
    }


async def live_then_restarted(
    orders: list[OrderRequest], moves: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]]
) -> tuple[dict[str, tuple[object, ...]], dict[str, tuple[object, ...]]]:
    bus = MemoryBus()
    await bus.start()
    live = PaperBroker(paper_config(), bus)
    await live.connect()
    await live.on_market_data(eth_book([("1999.75", "50")], [("2000.25", "50")]))
    await live.place(limit("long", Side.BUY, "10", "2000.25", TimeInForce.GTC))
    for order in orders:
        await live.place(order)
    await live.settle()
    await live.drop_link()
    for bids, asks in moves:
        await live.on_market_data(eth_book(bids, asks))
    await live.settle()
    await live.restore_link()
    await live.settle()
    before = state(live)
    await live.close()
    second = await restarted(bus)
    after = state(second)
    await second.close()
    await bus.close()
    return before, after


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    orders=st.lists(st.integers(), min_size=1, max_size=4).flatmap(
        lambda keys: st.tuples(*(working_orders(f"o{i}") for i in range(len(keys))))
    ),
    moves=st.lists(books(), min_size=1, max_size=3),
)
def test_a_restart_after_a_reconnect_holds_what_the_live_venue_held(
    orders: tuple[OrderRequest, ...],
    moves: list[tuple[list[tuple[str, str]], list[tuple[str, str]]]],
) -> None:
    before, after = asyncio.run(live_then_restarted(list(orders), moves))
    assert after == before
