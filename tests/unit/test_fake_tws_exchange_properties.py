"""Invariants of the fake TWS's venue under any sequence of orders, quotes, fills and
cancels: quantities add up, money is conserved, ids are unique, nothing marketable rests."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.tws import FUTURE
from tests.fakes.tws.exchange import Exchange, Order, Quote, Ticket

TICK = FUTURE.min_tick
prices = st.integers(23_997, 24_003).map(lambda n: Decimal(n) * TICK)  # 5999.25 .. 6000.75
sizes = st.integers(0, 5).map(Decimal)

place = st.tuples(
    st.just("place"),
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["MKT", "LMT", "STP", "STP LMT"]),
    st.integers(1, 6).map(Decimal),
    prices,
    prices,
    st.sampled_from(["DAY", "GTC", "IOC", "FOK"]),
)
quote = st.tuples(st.just("quote"), prices, st.integers(1, 3), sizes, sizes, st.booleans())
fill = st.tuples(st.just("fill"), st.integers(0, 20), st.integers(1, 6), prices)
cancel = st.tuples(st.just("cancel"), st.integers(0, 20))
modify = st.tuples(st.just("modify"), st.integers(0, 20), prices, st.integers(1, 8))
operations = st.lists(st.one_of(place, quote, fill, cancel, modify), max_size=40)


def run(ops: list[tuple[Any, ...]]) -> Exchange:
    exchange = Exchange([FUTURE], "DU1", {"USD": Decimal("1000000")})
    placed: list[Order] = []
    for op in ops:
        if op[0] == "place":
            _, action, kind, qty, limit, stop, tif = op
            ticket = Ticket(action, qty, kind, limit, stop, tif)
            assert exchange.validate(FUTURE, ticket, len(placed) + 1) is None
            order = exchange.place(1, len(placed) + 1, FUTURE, ticket)
            placed.append(order)
            exchange.match(order, placing=True)
        elif op[0] == "quote":
            _, bid, spread, bid_size, ask_size, with_last = op
            ask = bid + spread * TICK
            exchange.set_quote(
                FUTURE.con_id,
                Quote(bid, ask, bid_size, ask_size, bid if with_last else None, Decimal(1)),
            )
        elif placed:
            order = placed[op[1] % len(placed)]
            if not order.working:
                continue
            if op[0] == "fill":
                exchange.execute(order, Decimal(op[2]), op[3], liquidity=1)
            elif op[0] == "cancel":
                exchange.cancel(order)
            else:
                t = order.ticket
                new = Ticket(t.action, Decimal(op[3]), t.order_type, op[2], t.stop_price, t.tif)
                if new.quantity > order.filled:
                    exchange.modify(order, new)
                    exchange.match(order)
    return exchange


def marketable_now(exchange: Exchange, order: Order) -> bool:
    q = exchange.quote(FUTURE.con_id)
    t = order.ticket
    buy = t.action == "BUY"
    if t.order_type.startswith("STP") and not order.triggered:
        ref = q.last if q.last is not None else (q.ask if buy else q.bid)
        assert t.stop_price is not None
        return ref is not None and (ref >= t.stop_price if buy else ref <= t.stop_price)
    price, size = (q.ask, q.ask_size) if buy else (q.bid, q.bid_size)
    if price is None or size <= 0:
        return False
    if t.order_type in ("LMT", "STP LMT"):
        assert t.limit_price is not None
        return price <= t.limit_price if buy else price >= t.limit_price
    return True


@settings(max_examples=150, deadline=None)
@given(operations)
def test_quantities_money_and_ids_stay_consistent(ops: list[tuple[Any, ...]]) -> None:
    exchange = run(ops)
    shares: dict[int, Decimal] = defaultdict(Decimal)
    signed = Decimal(0)
    spent = Decimal(0)
    for execution in exchange.executions:
        perm = execution.order.perm_id
        shares[perm] += execution.shares
        assert execution.cum_qty == shares[perm]
        sign = 1 if execution.side == "BOT" else -1
        signed += sign * execution.shares
        spent += sign * execution.shares * execution.price * FUTURE.unit + execution.commission
    for order in exchange.orders.values():
        assert Decimal(0) <= order.filled <= order.ticket.quantity
        assert order.filled == shares[order.perm_id]
        assert (order.status == "Filled") == (order.filled == order.ticket.quantity)
        if order.working:
            assert not marketable_now(exchange, order), order
    position = exchange.positions.get(FUTURE.con_id)
    assert (position.quantity if position else Decimal(0)) == signed
    assert exchange.cash["USD"] == Decimal("1000000") - spent
    exec_ids = [e.exec_id for e in exchange.executions]
    assert len(set(exec_ids)) == len(exec_ids)
    assert len({o.perm_id for o in exchange.orders.values()}) == len(exchange.orders)
