"""Invariants of the fake Binance's matching and accounts, under random operation sequences.

Whatever the test drives (orders, cancels, book moves, prints, fills), money is only moved
by trades and fees, locked funds are exactly what open orders hold, nothing goes negative,
and every order's executed quantity is the sum of its trades. A rejected request changes
nothing.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.binance.exchange import BinanceError, Commission, Exchange
from tests.fakes.binance.filters import SymbolSpec

SYMBOL = "BTCUSDT"
START = {"BTC": Decimal("1"), "USDT": Decimal("1000")}
D = Decimal

prices = st.integers(180, 220).map(lambda n: D(n) / 2)  # 90.0 .. 110.0 on a 0.5 grid
quantities = st.integers(1, 40).map(lambda n: D(n) / 100)  # 0.01 .. 0.40
sides = st.sampled_from(["BUY", "SELL"])

operations = st.one_of(
    st.tuples(st.just("limit"), sides, prices, quantities, st.sampled_from(["GTC", "IOC", "FOK"])),
    st.tuples(st.just("market"), sides, quantities),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("book"), prices, st.integers(1, 6), quantities, quantities),
    st.tuples(st.just("trade"), prices, quantities),
    st.tuples(st.just("fill"), st.integers(0, 20), st.integers(1, 4)),
)


def apply(ex: Exchange, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "limit":
        _, side, price, qty, tif = op
        ex.place(
            {
                "symbol": SYMBOL,
                "side": side,
                "type": "LIMIT",
                "timeInForce": tif,
                "quantity": str(qty),
                "price": str(price),
            }
        )
    elif kind == "market":
        _, side, qty = op
        ex.place({"symbol": SYMBOL, "side": side, "type": "MARKET", "quantity": str(qty)})
    elif kind == "cancel":
        open_orders = ex.open_orders(SYMBOL)
        if open_orders:
            order = open_orders[op[1] % len(open_orders)]
            ex.cancel(SYMBOL, str(order.order_id), None)
    elif kind == "book":
        _, bid, spread_ticks, bid_qty, ask_qty = op
        ex.set_book(SYMBOL, [(bid, bid_qty)], [(bid + D("0.5") * spread_ticks, ask_qty)])
    elif kind == "trade":
        ex.trade(SYMBOL, op[1], op[2], buyer_is_maker=False)
    elif kind == "fill":
        working = [o for o in ex.open_orders(SYMBOL) if o.type != "MARKET"]
        if working:
            order = working[op[1] % len(working)]
            part = (order.remaining / op[2]).quantize(D("0.00001"))
            ex.fill(order.order_id, part if part > 0 else None)


def totals(ex: Exchange) -> dict[str, tuple[Decimal, Decimal]]:
    return {a: (b.free, b.locked) for a, b in ex.balances.items()}


def check(ex: Exchange) -> None:
    for asset, bal in ex.balances.items():
        assert bal.free >= 0, (asset, bal)
        assert bal.locked >= 0, (asset, bal)
        held = sum((o.locked for o in ex.open_orders() if o.lock_asset == asset), D(0))
        assert bal.locked == held, (asset, bal.locked, held)
    expected = dict(START)
    expected.setdefault("BNB", D(0))
    for t in ex.trades:
        sign = 1 if t.is_buyer else -1
        expected["BTC"] += sign * t.qty
        expected["USDT"] -= sign * t.qty * t.price
        expected[t.commission_asset] -= t.commission
    for asset, amount in expected.items():
        bal = ex.balance(asset)
        assert bal.free + bal.locked == amount, (asset, bal, amount)
    for order in ex.orders.values():
        mine = [t for t in ex.trades if t.order_id == order.order_id]
        assert order.executed_qty == sum((t.qty for t in mine), D(0))
        assert order.cum_quote == sum((t.qty * t.price for t in mine), D(0))
        assert order.executed_qty <= order.orig_qty
        assert (order.status == "FILLED") == (order.executed_qty == order.orig_qty)
        if not order.is_open:
            assert order.locked == 0


@settings(max_examples=150, deadline=None)
@given(
    st.lists(operations, max_size=30),
    st.sampled_from(["received", "base", "quote"]),
)
def test_money_moves_only_by_trades_and_fees(ops: list[tuple[Any, ...]], mode: Any) -> None:
    ticks = itertools.count(1)
    spec = SymbolSpec(SYMBOL, "BTC", "USDT", min_notional=D("0.5"))
    ex = Exchange([spec], START, Commission(mode=mode), lambda: next(ticks))
    cumulative: dict[int, Decimal] = {}
    for op in ops:
        before = (totals(ex), len(ex.orders), len(ex.trades))
        try:
            apply(ex, op)
        except BinanceError:
            assert (totals(ex), len(ex.orders), len(ex.trades)) == before
        check(ex)
        for event in ex.take_user_events():
            if event["e"] == "executionReport":
                z = D(event["z"])
                assert z >= cumulative.get(event["i"], D(0))
                cumulative[event["i"]] = z
        ex.take_market_events()
