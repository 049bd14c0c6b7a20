"""The broker contract: one suite, every adapter (see `conftest.ADAPTERS`).

Written only against `Broker` and the events it publishes on the bus. The venue is
driven through the harness's `VenueDriver`; nothing of ours is mocked.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal

import pytest

from silvertine_tui.brokers import (
    TRADABLE_STATES,
    BrokerTimeout,
    InsufficientFunds,
    NotConnected,
    OrderRejected,
    UnknownOrder,
)
from silvertine_tui.domain import (
    ApplyResult,
    ConnectionState,
    Fill,
    MarketDataKind,
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    OrderValidationError,
    Side,
    TimeInForce,
)
from silvertine_tui.events import (
    BalanceEvent,
    BookEvent,
    CancelRequestEvent,
    EventBase,
    FillEvent,
    HealthEvent,
    ModifyRequestEvent,
    OrderRequestEvent,
    OrderUpdateEvent,
    PositionEvent,
    QuoteEvent,
)

from .conftest import Harness

S = OrderStatus


# -- reading the journal ----------------------------------------------------------------


def updates(events: list[EventBase], coid: str) -> list[OrderUpdate]:
    return [
        e.payload
        for e in events
        if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == coid
    ]


def statuses(events: list[EventBase], coid: str) -> list[OrderStatus]:
    return [u.status for u in updates(events, coid)]


def fills(events: list[EventBase], coid: str | None = None) -> list[Fill]:
    return [
        e.payload
        for e in events
        if isinstance(e, FillEvent) and (coid is None or e.payload.client_order_id == coid)
    ]


def has_status(
    coid: str, status: OrderStatus, filled: Decimal | None = None
) -> Callable[[list[EventBase]], bool]:
    def check(events: list[EventBase]) -> bool:
        return any(
            u.status is status and (filled is None or u.filled_qty == filled)
            for u in updates(events, coid)
        )

    return check


def replay_orders(events: list[EventBase]) -> tuple[dict[str, Order], Counter[ApplyResult]]:
    """Apply the journal to the domain state machine, as the engine does."""
    orders: dict[str, Order] = {}
    results: Counter[ApplyResult] = Counter()
    for event in events:
        if isinstance(event, OrderRequestEvent):
            orders[event.payload.client_order_id] = Order.from_request(event.payload)
        elif isinstance(event, OrderUpdateEvent):
            results[orders[event.payload.client_order_id].apply_update(event.payload)] += 1
        elif isinstance(event, FillEvent):
            results[orders[event.payload.client_order_id].apply_fill(event.payload)] += 1
    return orders, results


def last_position(events: list[EventBase], key: str) -> Decimal:
    found = [
        e.payload.quantity
        for e in events
        if isinstance(e, PositionEvent) and e.payload.instrument == key
    ]
    assert found, f"no position event for {key}"
    return found[-1]


async def rest_buy(h: Harness, units: int, ticks: int) -> str:
    """A buy limit that rests (below the quiet book's bid) and is acknowledged."""
    coid = await h.broker.place(h.request(Side.BUY, h.qty(units), limit_price=h.px(ticks)))
    await h.wait_for(has_status(coid, S.NEW), f"NEW for {coid}")
    return coid


# -- connect ------------------------------------------------------------------------------


async def test_connect_goes_live_and_reports_the_account(harness: Harness) -> None:
    h = harness
    assert h.broker.state is ConnectionState.LIVE
    health = [
        entry.event.payload
        for entry in await h.bus.read(h.bus.layout.health)
        if isinstance(entry.event, HealthEvent)
        and entry.event.payload.component == h.broker.component
    ]
    assert health, "no health published"
    assert health[-1].state is ConnectionState.LIVE
    assert h.key in await h.broker.instruments()
    balances = {b.currency: b for b in await h.broker.balances()}
    assert balances[h.currency].total == h.cash
    journaled = [
        e.payload
        for e in await h.events()
        if isinstance(e, BalanceEvent) and e.payload.currency == h.currency
    ]
    assert journaled
    assert journaled[-1].total == h.cash
    assert await h.broker.open_orders() == []
    assert await h.broker.positions() == []


# -- place, fill, modify, cancel ----------------------------------------------------------


async def test_place_rests_and_is_acknowledged(harness: Harness) -> None:
    h = harness
    coid = await h.broker.place(h.request(Side.BUY, h.qty(3), limit_price=h.px(-50)))
    events = await h.wait_for(has_status(coid, S.NEW), "NEW")
    mine = [
        e
        for e in events
        if getattr(e.payload, "client_order_id", None) == coid
        and isinstance(e, OrderRequestEvent | OrderUpdateEvent)
    ]
    assert isinstance(mine[0], OrderRequestEvent)
    assert statuses(events, coid)[:2] == [S.PENDING_NEW, S.NEW]
    ack = updates(events, coid)[1]
    assert ack.venue_order_id
    [venue] = await h.broker.open_orders()
    assert venue.client_order_id == coid
    assert venue.venue_order_id == ack.venue_order_id
    assert (venue.side, venue.order_type, venue.tif) == (Side.BUY, OrderType.LIMIT, TimeInForce.GTC)
    assert (venue.quantity, venue.limit_price, venue.filled_qty) == (
        h.qty(3),
        h.px(-50),
        Decimal(0),
    )
    assert venue.status is S.NEW
    assert fills(events, coid) == []


async def test_partial_fill_then_complete(harness: Harness) -> None:
    h = harness
    price = h.px(-10)
    coid = await rest_buy(h, 3, -10)
    # One unit offered below our bid: it trades with us, the rest keeps working.
    await h.driver.set_book([(h.px(-30), h.qty(10))], [(h.px(-11), h.qty(1))])
    await h.driver.settle()
    events = await h.wait_for(
        has_status(coid, S.PARTIALLY_FILLED, h.qty(1)), "a partial fill of one unit"
    )
    [first] = fills(events, coid)
    assert first.quantity == h.qty(1)
    assert first.price <= price
    [venue] = await h.broker.open_orders()
    assert (venue.status, venue.filled_qty) == (S.PARTIALLY_FILLED, h.qty(1))

    await h.driver.set_book([(h.px(-30), h.qty(10))], [(h.px(-11), h.qty(5))])
    await h.driver.settle()
    events = await h.wait_for(has_status(coid, S.FILLED, h.qty(3)), "FILLED with three units")
    done = fills(events, coid)
    assert sum(f.quantity for f in done) == h.qty(3)
    assert len({f.exec_id for f in done}) == len(done)
    ack = updates(events, coid)[1]
    assert all(f.venue_order_id == ack.venue_order_id for f in done)
    assert all(f.price <= price and f.side is Side.BUY for f in done)
    final = [u for u in updates(events, coid) if u.status is S.FILLED][-1]
    cost = sum(f.quantity * f.price for f in done)
    assert final.avg_price == cost / h.qty(3)
    assert await h.broker.open_orders() == []
    assert last_position(events, h.key) == h.qty(3)
    [position] = [p for p in await h.broker.positions() if p.instrument == h.key]
    assert position.quantity == h.qty(3)
    # Cash paid the notional and the fees (when the venue charges the quote currency).
    fees = sum(f.fee for f in done)
    assert all(f.fee_currency == h.currency for f in done)
    assert fees > 0
    balances = {b.currency: b for b in await h.broker.balances()}
    assert balances[h.currency].total == h.cash - cost - fees


async def test_market_order_walks_the_book(harness: Harness) -> None:
    h = harness
    asks = [(h.px(1), h.qty(1)), (h.px(2), h.qty(1)), (h.px(3), h.qty(5))]
    await h.driver.set_book([(h.px(-1), h.qty(5))], asks)
    await h.driver.settle()
    coid = await h.broker.place(
        h.request(Side.BUY, h.qty(3), order_type=OrderType.MARKET, tif=TimeInForce.IOC)
    )
    events = await h.wait_for(has_status(coid, S.FILLED, h.qty(3)), "the market order filled")
    done = fills(events, coid)
    assert sum(f.quantity for f in done) == h.qty(3)
    assert min(f.price for f in done) >= h.px(1), "a fill better than the book"
    avg = sum(f.quantity * f.price for f in done) / h.qty(3)
    assert avg > h.px(1), "three units cannot all trade at a top level that shows one"


async def test_modify_replaces_the_terms(harness: Harness) -> None:
    h = harness
    coid = await rest_buy(h, 2, -10)
    await h.broker.modify(coid, quantity=h.qty(3), limit_price=h.px(-20))
    events = await h.wait_for(
        lambda ev: statuses(ev, coid)[-1:] == [S.NEW] and len(statuses(ev, coid)) >= 4,
        "the replace answer",
    )
    assert any(
        isinstance(e, ModifyRequestEvent) and e.payload.client_order_id == coid for e in events
    )
    assert statuses(events, coid)[2:4] == [S.PENDING_REPLACE, S.NEW]
    answer = updates(events, coid)[3]
    assert (answer.quantity, answer.limit_price) == (h.qty(3), h.px(-20))
    [venue] = await h.broker.open_orders()
    assert (venue.quantity, venue.limit_price) == (h.qty(3), h.px(-20))
    # The old price no longer trades; the new one does, for the new quantity.
    await h.driver.set_book([(h.px(-40), h.qty(10))], [(h.px(-15), h.qty(10))])
    await h.driver.settle()
    assert fills(await h.events(), coid) == []
    await h.driver.set_book([(h.px(-40), h.qty(10))], [(h.px(-21), h.qty(10))])
    await h.driver.settle()
    events = await h.wait_for(has_status(coid, S.FILLED, h.qty(3)), "FILLED at the new terms")
    assert all(f.price <= h.px(-20) for f in fills(events, coid))
    orders, _ = replay_orders(events)
    assert orders[coid].status is S.FILLED
    assert orders[coid].filled_qty == h.qty(3)


async def test_two_changes_of_one_order_at_once_go_one_after_the_other(
    harness: Harness,
) -> None:
    """A second modify while the first is on its way goes once the first is answered:
    both are answered, neither waits out a timeout, and the order ends at the terms
    asked last. Sent at once, at IB the second's answer was taken for the first's,
    which waited out its timeout to say "no answer"."""
    h = harness
    coid = await rest_buy(h, 2, -10)
    started = time.monotonic()
    outcomes = await asyncio.gather(
        h.broker.modify(coid, limit_price=h.px(-11)),
        h.broker.modify(coid, limit_price=h.px(-12)),
        return_exceptions=True,
    )
    took = time.monotonic() - started
    assert outcomes == [None, None]
    assert took < 0.9, f"the changes took {took:.2f} s: one waited for an answer it never got"
    events = await h.wait_for(
        lambda ev: (
            [u.limit_price for u in updates(ev, coid) if u.status is S.NEW][-1:] == [h.px(-12)]
        ),
        "the second change's answer",
    )
    asked = [e.payload.limit_price for e in events if isinstance(e, ModifyRequestEvent)]
    assert asked == [h.px(-11), h.px(-12)]
    answered = [u.limit_price for u in updates(events, coid) if u.status is S.NEW]
    assert answered[-2:] == [h.px(-11), h.px(-12)]
    [venue] = await h.broker.open_orders()
    assert venue.limit_price == h.px(-12)


async def test_cancel(harness: Harness) -> None:
    h = harness
    coid = await rest_buy(h, 2, -10)
    await h.broker.cancel(coid)
    events = await h.wait_for(has_status(coid, S.CANCELED), "CANCELED")
    assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    assert await h.broker.open_orders() == []
    with pytest.raises(UnknownOrder):
        await h.broker.cancel(coid)
    with pytest.raises(UnknownOrder):
        await h.broker.cancel("no-such-order")
    # A canceled order no longer trades.
    await h.driver.set_book([(h.px(-40), h.qty(10))], [(h.px(-20), h.qty(10))])
    await h.driver.settle()
    assert fills(await h.events(), coid) == []


async def test_two_cancels_of_one_order_at_once_send_one(harness: Harness) -> None:
    """A second cancel while the first is on its way (the cancel key pressed twice, the
    kill switch behind a single cancel) waits for it and has its outcome: one cancel
    journaled and sent, both answered as soon as the venue answers the one. Sent twice,
    the two raced: at IB the first waited out its timeout to say "no answer" of an
    order that was cancelled."""
    h = harness
    coid = await rest_buy(h, 2, -10)
    started = time.monotonic()
    outcomes = await asyncio.gather(
        h.broker.cancel(coid), h.broker.cancel(coid, reason="kill switch"), return_exceptions=True
    )
    took = time.monotonic() - started
    assert outcomes == [None, None]
    events = await h.wait_for(has_status(coid, S.CANCELED), "CANCELED")
    assert statuses(events, coid)[-2:] == [S.PENDING_CANCEL, S.CANCELED]
    assert statuses(events, coid).count(S.PENDING_CANCEL) == 1
    cancels = [e for e in events if isinstance(e, CancelRequestEvent)]
    assert [e.payload.client_order_id for e in cancels] == [coid]
    assert took < 0.9, f"the cancels took {took:.2f} s: one waited for an answer it never got"
    assert await h.broker.open_orders() == []


async def test_cancel_all(harness: Harness) -> None:
    h = harness
    ids = {await rest_buy(h, 1, -10 - i) for i in range(3)}
    assert len(await h.broker.open_orders()) == 3
    cancelled = await h.broker.cancel_all()
    assert set(cancelled) == ids
    events = await h.wait_for(
        lambda ev: all(statuses(ev, c)[-1:] == [S.CANCELED] for c in ids), "all CANCELED"
    )
    assert all(S.PENDING_CANCEL in statuses(events, c) for c in ids)
    assert await h.broker.open_orders() == []
    assert await h.broker.cancel_all() == []


# -- rejects ------------------------------------------------------------------------------


async def test_rejects_a_bad_quantity_before_anything_is_sent(harness: Harness) -> None:
    h = harness
    before = len(await h.events())
    lot = h.instrument.lot_size
    off_grid = h.qty(1) + lot / 2
    below_minimum = lot  # one lot at this price is below the minimum notional or quantity
    for qty in (off_grid, Decimal(0), Decimal(-1)):
        with pytest.raises(OrderValidationError):
            await h.broker.place(h.request(Side.BUY, qty, limit_price=h.px(-10)))
    if h.instrument.min_notional > lot * h.mid or h.instrument.min_qty > lot:
        with pytest.raises(OrderValidationError):
            await h.broker.place(h.request(Side.BUY, below_minimum, limit_price=h.px(-10)))
    assert len(await h.events()) == before, "an invalid order was journaled or sent"
    assert await h.broker.open_orders() == []


async def test_rejects_insufficient_funds(harness: Harness) -> None:
    h = harness
    lot = h.instrument.lot_size
    too_much = (h.cash * 2 / h.mid / lot).to_integral_value() * lot
    with pytest.raises(InsufficientFunds) as info:
        await h.broker.place(h.request(Side.BUY, too_much, limit_price=h.px(-1)))
    assert isinstance(info.value, OrderRejected)
    events = await h.events()
    [request] = [e.payload for e in events if isinstance(e, OrderRequestEvent)]
    coid = request.client_order_id
    assert statuses(events, coid) == [S.PENDING_NEW, S.REJECTED]
    reason = updates(events, coid)[-1].reason
    assert "insufficient" in reason.lower()
    assert fills(events, coid) == []
    assert await h.broker.open_orders() == []
    balances = {b.currency: b for b in await h.broker.balances()}
    assert balances[h.currency].total == h.cash


# -- faults ------------------------------------------------------------------------------


async def test_duplicate_and_late_reports_never_move_an_order_backwards(
    harness: Harness,
) -> None:
    h = harness
    await h.driver.set_report_faults(duplicate=True, late=True)
    coid = await rest_buy(h, 3, -10)
    other = await rest_buy(h, 1, -30)
    await h.driver.set_book([(h.px(-40), h.qty(10))], [(h.px(-11), h.qty(1))])
    await h.driver.settle()
    await h.driver.set_book([(h.px(-40), h.qty(10))], [(h.px(-11), h.qty(5))])
    await h.driver.settle()
    await h.broker.cancel(other)
    events = await h.wait_for(
        lambda ev: has_status(coid, S.FILLED)(ev) and has_status(other, S.CANCELED)(ev),
        "FILLED and CANCELED",
    )
    await h.driver.settle()
    events = await h.events()
    assert await h.driver.reports_repeated() > 0, "the venue repeated no report"
    # An adapter may journal the venue's repeats (the engine refuses them on replay) or
    # drop them itself; either way none of them may count twice or move an order back.
    orders, results = replay_orders(events)
    assert results[ApplyResult.OVERFILL] == 0
    assert orders[coid].status is S.FILLED
    assert orders[coid].filled_qty == h.qty(3)
    assert orders[other].status is S.CANCELED
    distinct = {f.exec_id: f for f in fills(events, coid)}
    assert sum(f.quantity for f in distinct.values()) == h.qty(3)
    [position] = [p for p in await h.broker.positions() if p.instrument == h.key]
    assert position.quantity == h.qty(3), "the adapter counted a duplicate"
    assert last_position(events, h.key) == h.qty(3)


async def test_disconnect_then_reconnect_reconciles_missed_fills_once(harness: Harness) -> None:
    h = harness
    since = time.time_ns()
    coid = await rest_buy(h, 2, -10)
    await h.driver.drop_connection()
    await h.wait_state(lambda b: b.state not in TRADABLE_STATES, "the adapter to notice")
    journaled = len(await h.events())
    with pytest.raises(NotConnected):
        await h.broker.place(h.request(Side.BUY, h.qty(1), limit_price=h.px(-10)))
    assert len(await h.events()) == journaled, "an order was journaled while disconnected"

    # The venue keeps trading while we are away.
    await h.driver.set_book([(h.px(-40), h.qty(10))], [(h.px(-11), h.qty(5))])
    await h.driver.settle()
    assert fills(await h.events(), coid) == []

    await h.driver.restore_connection()
    await h.wait_state(lambda b: b.state is ConnectionState.LIVE, "LIVE again")
    events = await h.wait_for(has_status(coid, S.FILLED, h.qty(2)), "the missed fill")
    missed = fills(events, coid)
    assert sum(f.quantity for f in missed) == h.qty(2)
    assert len({f.exec_id for f in missed}) == len(missed), "a missed fill was sent twice"
    assert h.broker.health_state.reconnects >= 1
    report = await h.broker.reconcile(since)
    assert coid not in {o.client_order_id for o in report.open_orders}
    venue_fills = [f for f in report.fills if f.client_order_id == coid]
    assert {f.exec_id for f in venue_fills} == {f.exec_id for f in missed}
    assert {p.instrument: p.quantity for p in report.positions}[h.key] == h.qty(2)
    assert last_position(events, h.key) == h.qty(2)
    # Trading works again.
    again = await rest_buy(h, 1, -30)
    assert [o.client_order_id for o in await h.broker.open_orders()] == [again]


# -- what real venues need (issue 11) ------------------------------------------------------


async def market_buy(h: Harness, units: int) -> str:
    coid = await h.broker.place(
        h.request(Side.BUY, h.qty(units), order_type=OrderType.MARKET, tif=TimeInForce.IOC)
    )
    await h.wait_for(has_status(coid, S.FILLED, h.qty(units)), f"market buy {coid} FILLED")
    return coid


async def test_sell_closes_a_long(harness: Harness) -> None:
    h = harness
    bought = await market_buy(h, 2)
    coid = await h.broker.place(h.request(Side.SELL, h.qty(2), limit_price=h.px(8)))
    await h.wait_for(has_status(coid, S.NEW), "the sell rests")
    [venue] = await h.broker.open_orders()
    assert (venue.client_order_id, venue.side) == (coid, Side.SELL)
    if not h.broker.capabilities.short_selling:
        # A spot account sells what it holds, and no more (the rest is reserved).
        with pytest.raises(InsufficientFunds):
            await h.broker.place(h.request(Side.SELL, h.qty(1), limit_price=h.px(9)))
    # Buyers come in above our price: the sell fills.
    await h.driver.set_book([(h.px(9), h.qty(10))], [(h.px(12), h.qty(10))])
    await h.driver.settle()
    events = await h.wait_for(has_status(coid, S.FILLED, h.qty(2)), "the sell FILLED")
    sold = fills(events, coid)
    assert all(f.side is Side.SELL and f.price >= h.px(8) for f in sold)
    assert sum(f.quantity for f in sold) == h.qty(2)
    assert last_position(events, h.key) == 0
    assert [p.quantity for p in await h.broker.positions() if p.instrument == h.key] in ([], [0])
    paid = fills(events, bought)
    cost = sum(f.quantity * f.price for f in paid)
    proceeds = sum(f.quantity * f.price for f in sold)
    fees = sum(f.fee for f in [*paid, *sold] if f.fee_currency == h.currency)
    balances = {b.currency: b for b in await h.broker.balances()}
    assert balances[h.currency].total == h.cash - cost + proceeds - fees


async def test_stop_orders_wait_for_their_trigger(harness: Harness) -> None:
    h = harness
    caps = h.broker.capabilities
    before = len(await h.events())
    kinds = (OrderType.STOP, OrderType.STOP_LIMIT)
    for kind in kinds:
        if kind in caps.order_types:
            continue
        # What the venue cannot take is refused before anything is journaled.
        with pytest.raises(OrderValidationError) as info:
            await h.broker.place(
                h.request(
                    Side.BUY,
                    h.qty(1),
                    order_type=kind,
                    stop_price=h.px(10),
                    limit_price=h.px(12) if kind.has_limit_price else None,
                )
            )
        assert [(i.field, i.rule) for i in info.value.issues] == [("order_type", "supported")]
    assert len(await h.events()) == before
    placed: dict[OrderType, str] = {}
    for kind in kinds:
        if kind not in caps.order_types:
            continue
        # A buy stop above the market; the stop-limit's limit is above the ask too, so
        # only the stop keeps it from trading now.
        coid = await h.broker.place(
            h.request(
                Side.BUY,
                h.qty(1),
                order_type=kind,
                stop_price=h.px(10),
                limit_price=h.px(12) if kind.has_limit_price else None,
            )
        )
        await h.wait_for(has_status(coid, S.NEW), f"{kind} accepted")
        placed[kind] = coid
    assert placed, f"{h.name} takes neither STOP nor STOP_LIMIT"
    await h.driver.settle()
    events = await h.events()
    assert all(fills(events, c) == [] for c in placed.values()), "a stop traded untriggered"
    assert {o.client_order_id for o in await h.broker.open_orders()} == set(placed.values())

    # The market trades up through the stop.
    await h.driver.set_book([(h.px(9), h.qty(10))], [(h.px(11), h.qty(10))])
    await h.driver.print_trade(h.px(10), h.qty(1))
    await h.driver.settle()
    for kind, coid in placed.items():
        events = await h.wait_for(has_status(coid, S.FILLED, h.qty(1)), f"{kind} FILLED")
        done = fills(events, coid)
        assert sum(f.quantity for f in done) == h.qty(1)
        assert all(f.price >= h.px(10) for f in done), "a buy stop filled below its stop"
        if kind.has_limit_price:
            assert all(f.price <= h.px(12) for f in done), "a stop-limit beat its limit"
    assert await h.broker.open_orders() == []


async def test_take_profits_wait_for_the_price_to_fall_to_a_buy(harness: Harness) -> None:
    """TAKE_PROFIT (market-if-touched) and TAKE_PROFIT_LIMIT: a buy below the market
    waits while the price rises (a stop would trigger), and triggers when it falls to
    the stop: TAKE_PROFIT then buys at market, TAKE_PROFIT_LIMIT at its limit or better."""
    h = harness
    caps = h.broker.capabilities
    before = len(await h.events())
    kinds = (OrderType.TAKE_PROFIT, OrderType.TAKE_PROFIT_LIMIT)

    def buy(kind: OrderType) -> OrderRequest:
        limit = h.px(-8) if kind.has_limit_price else None
        return h.request(
            Side.BUY, h.qty(1), order_type=kind, stop_price=h.px(-10), limit_price=limit
        )

    for kind in kinds:
        if kind not in caps.order_types:
            with pytest.raises(OrderValidationError) as info:
                await h.broker.place(buy(kind))
            assert [(i.field, i.rule) for i in info.value.issues] == [("order_type", "supported")]
    assert len(await h.events()) == before
    placed: dict[OrderType, str] = {}
    for kind in kinds:
        if kind in caps.order_types:
            coid = await h.broker.place(buy(kind))
            await h.wait_for(has_status(coid, S.NEW), f"{kind} accepted")
            placed[kind] = coid
    if not placed:
        return  # this venue takes neither (refused above, nothing journaled)

    # The market rises well above: a buy take-profit keeps waiting.
    await h.driver.set_book([(h.px(14), h.qty(10))], [(h.px(16), h.qty(10))])
    await h.driver.print_trade(h.px(15), h.qty(1))
    await h.driver.settle()
    events = await h.events()
    assert all(fills(events, c) == [] for c in placed.values()), "triggered by a rise"
    assert {o.client_order_id for o in await h.broker.open_orders()} == set(placed.values())

    # It falls to the stop.
    await h.driver.set_book([(h.px(-11), h.qty(10))], [(h.px(-10), h.qty(10))])
    await h.driver.print_trade(h.px(-10), h.qty(1))
    await h.driver.settle()
    for kind, coid in placed.items():
        events = await h.wait_for(has_status(coid, S.FILLED, h.qty(1)), f"{kind} FILLED")
        done = fills(events, coid)
        assert sum(f.quantity for f in done) == h.qty(1)
        assert all(f.price == h.px(-10) for f in done), "not bought at the ask it fell to"
    assert await h.broker.open_orders() == []


async def test_quotes_and_books_are_published(harness: Harness) -> None:
    h = harness
    offered = h.broker.capabilities.market_data
    assert MarketDataKind.QUOTE in offered
    await h.broker.subscribe([h.key], [k for k in MarketDataKind if k in offered])
    await h.driver.set_book([(h.px(-3), h.qty(4))], [(h.px(4), h.qty(6))])
    await h.driver.settle()
    deadline = time.monotonic() + 5.0
    while True:
        market = await h.market()
        quotes = [
            e.payload
            for e in market
            if isinstance(e, QuoteEvent)
            and e.payload.instrument == h.key
            and (e.payload.bid, e.payload.ask) == (h.px(-3), h.px(4))
        ]
        books = [
            e.payload
            for e in market
            if isinstance(e, BookEvent)
            and e.payload.instrument == h.key
            and e.payload.bids[:1]
            and (e.payload.bids[0].price, e.payload.asks[0].price) == (h.px(-3), h.px(4))
        ]
        if quotes and (books or MarketDataKind.BOOK not in offered):
            break
        assert time.monotonic() < deadline, f"{h.name}: no quote/book for the new market"
        await asyncio.sleep(0.005)
    quote = quotes[-1]
    assert (quote.bid_size, quote.ask_size) == (h.qty(4), h.qty(6))
    if MarketDataKind.BOOK in offered:
        book = books[-1]
        assert (book.bids[0].size, book.asks[0].size) == (h.qty(4), h.qty(6))


async def test_a_fee_in_the_base_asset_comes_out_of_the_position(
    harness_fees_in_base: Harness,
) -> None:
    h = harness_fees_in_base
    await h.base_fee_driver.charge_fees_in_base()
    coid = await market_buy(h, 3)
    events = await h.events()
    done = fills(events, coid)
    base = h.instrument.base_currency
    assert base
    assert base != h.currency
    assert all(f.fee_currency == base and f.fee > 0 for f in done)
    assert all(f.fee_value is not None and f.fee_value > 0 for f in done)
    fee = sum(f.fee for f in done)
    held = h.qty(3) - fee
    assert last_position(events, h.key) == held
    [position] = [p for p in await h.broker.positions() if p.instrument == h.key]
    assert position.quantity == held
    # The cash paid the notional only: the fee was paid in the asset.
    cost = sum(f.quantity * f.price for f in done)
    balances = {b.currency: b for b in await h.broker.balances()}
    assert balances[h.currency].total == h.cash - cost
    orders, _ = replay_orders(events)
    assert orders[coid].fees == {base: fee}


async def test_query_order_after_a_timeout_finds_the_order_never_sent_twice(
    harness: Harness,
) -> None:
    h = harness
    await h.driver.time_out_next_order()
    request = h.request(Side.BUY, h.qty(2), limit_price=h.px(-10))
    coid = request.client_order_id
    with pytest.raises(BrokerTimeout):
        await h.broker.place(request)
    # The venue has it; the adapter finds out by asking.
    events = await h.wait_for(has_status(coid, S.NEW), "the order found by asking")
    found = await h.broker.query_order(coid)
    assert found is not None
    assert (found.status, found.quantity, found.limit_price) == (S.NEW, h.qty(2), h.px(-10))
    assert updates(events, coid)[-1].venue_order_id == found.venue_order_id
    requests = [e for e in events if isinstance(e, OrderRequestEvent)]
    assert [r.payload.client_order_id for r in requests] == [coid], "sent twice"
    assert [o.client_order_id for o in await h.broker.open_orders()] == [coid]
    assert await h.broker.query_order("no-such-order") is None
    # It trades like any other order.
    await h.driver.set_book([(h.px(-30), h.qty(10))], [(h.px(-11), h.qty(5))])
    await h.driver.settle()
    await h.wait_for(has_status(coid, S.FILLED, h.qty(2)), "the found order FILLED")


async def test_fills_made_before_a_drop_are_never_republished(harness: Harness) -> None:
    h = harness
    coid = await rest_buy(h, 3, -10)
    await h.driver.set_book([(h.px(-30), h.qty(10))], [(h.px(-11), h.qty(1))])
    await h.driver.settle()
    events = await h.wait_for(has_status(coid, S.PARTIALLY_FILLED, h.qty(1)), "one unit")
    [first] = fills(events, coid)

    await h.driver.drop_connection()
    await h.wait_state(lambda b: b.state not in TRADABLE_STATES, "the adapter to notice")
    await h.driver.set_book([(h.px(-30), h.qty(10))], [(h.px(-11), h.qty(5))])
    await h.driver.settle()
    await h.driver.restore_connection()
    await h.wait_state(lambda b: b.state is ConnectionState.LIVE, "LIVE again")
    events = await h.wait_for(has_status(coid, S.FILLED, h.qty(3)), "the rest, missed")
    done = fills(events, coid)
    assert Counter(f.exec_id for f in done)[first.exec_id] == 1, "the first fill came again"
    assert sum(f.quantity for f in {f.exec_id: f for f in done}.values()) == h.qty(3)
    assert sum(f.quantity for f in done) == h.qty(3), "a fill was republished under a new id"
    # Reconcile from the last fill the journal knows returns only what came after it.
    report = await h.broker.reconcile(0, last_fills={h.key: first})
    after = {f.exec_id for f in report.fills if f.client_order_id == coid}
    assert after == {f.exec_id for f in done} - {first.exec_id}
    assert last_position(events, h.key) == h.qty(3)


async def test_cancel_or_modify_of_an_unknown_id_journals_nothing(harness: Harness) -> None:
    h = harness
    coid = await rest_buy(h, 1, -10)
    before = await h.events()
    with pytest.raises(UnknownOrder):
        await h.broker.cancel("no-such-order")
    with pytest.raises(UnknownOrder):
        await h.broker.modify("no-such-order", limit_price=h.px(-12))
    await h.driver.settle()
    assert len(await h.events()) == len(before), "a request for an unknown id was journaled"
    # The one that exists is untouched, and cancel all takes only it.
    assert await h.broker.cancel_all() == [coid]
    events = await h.wait_for(has_status(coid, S.CANCELED), "CANCELED")
    journaled = {
        getattr(e.payload, "client_order_id", None)
        for e in events
        if isinstance(e, OrderRequestEvent | OrderUpdateEvent | ModifyRequestEvent)
    }
    assert journaled == {coid}
    assert await h.broker.cancel_all() == []
    assert len(await h.events()) == len(events), "an empty cancel all was journaled"
