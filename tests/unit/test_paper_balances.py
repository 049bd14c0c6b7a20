"""Balances follow orders: the paper broker journals the cash a working order locks
when it is accepted, modified, cancelled or expired, not only when it fills.

A buy limit locks ``leaves * limit * (1 + the higher fee rate)`` of the quote currency,
as the venue reserves it; `available = total - locked` on every balance event.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import Balance, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.events import BalanceEvent, OrderUpdateEvent
from tests.unit.test_paper_broker import T0, eth_book, exec_events, order, paper_config

S = OrderStatus
CASH = D("100000")
RATE = D("1.001")  # 1 + max(maker 8 bps, taker 10 bps)
NO_LATENCY = {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0}
CALM = eth_book([(D("3099.99"), "50")], [(D("3100.01"), "50")])


def config(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "latency": NO_LATENCY,
        "starting_cash": {"USDT": str(CASH), "USD": str(CASH)},
        "fees": {"maker_bps": "8", "taker_bps": "10"},
    }
    values.update(overrides)
    return values


async def usdt_balances(bus: MemoryBus) -> list[Balance]:
    return [
        e.payload
        for e in await exec_events(bus)
        if isinstance(e, BalanceEvent) and e.payload.currency == "USDT"
    ]


async def started(**overrides: object) -> tuple[MemoryBus, PaperBroker]:
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(**config(**overrides)), bus)
    await broker.connect()
    await broker.on_market_data(CALM)
    return bus, broker


async def test_place_modify_and_cancel_move_locked_and_available_in_the_journal() -> None:
    bus, broker = await started()
    await broker.place(order("b1", Side.BUY, "2", D("3000")))
    locked = 2 * D("3000") * RATE
    last = (await usdt_balances(bus))[-1]
    assert (last.total, last.locked, last.available) == (CASH, locked, CASH - locked)
    assert locked == D("6006.000")

    await broker.modify("b1", quantity=D("3"))
    locked = 3 * D("3000") * RATE
    last = (await usdt_balances(bus))[-1]
    assert (last.total, last.locked, last.available) == (CASH, locked, CASH - locked)

    await broker.modify("b1", limit_price=D("2900.5"))
    locked = 3 * D("2900.5") * RATE
    last = (await usdt_balances(bus))[-1]
    assert (last.total, last.locked, last.available) == (CASH, locked, CASH - locked)
    assert locked == D("8710.2015")

    await broker.cancel("b1")
    last = (await usdt_balances(bus))[-1]
    assert (last.total, last.locked, last.available) == (CASH, D(0), CASH)

    # Every balance follows the order update that caused it.
    events = await exec_events(bus)
    kinds = [
        e.payload.status if isinstance(e, OrderUpdateEvent) else "balance"
        for e in events
        if isinstance(e, OrderUpdateEvent | BalanceEvent)
    ]
    assert kinds.index(S.NEW) < kinds.index("balance", kinds.index(S.NEW))
    assert kinds[-2:] == [S.CANCELED, "balance"]
    await broker.close()
    await bus.close()


async def test_an_expired_day_order_releases_its_cash() -> None:
    clock = [T0]
    bus = MemoryBus()
    await bus.start()
    broker = PaperBroker(paper_config(**config()), bus, clock=lambda: clock[0])
    await broker.connect()
    await broker.on_market_data(CALM)
    await broker.place(order("d1", Side.BUY, "1", D("3000"), tif=TimeInForce.DAY))
    assert (await usdt_balances(bus))[-1].locked == D("3000") * RATE
    clock[0] = T0 + 10 * 3600 * 10**9  # past the session end (00:00 UTC)
    await broker.on_market_data(CALM)
    await broker.settle()
    last = (await usdt_balances(bus))[-1]
    assert (last.locked, last.available) == (D(0), CASH)
    await broker.close()
    await bus.close()


async def test_a_fill_moves_the_lock_into_the_total() -> None:
    bus, broker = await started()
    await broker.place(order("f1", Side.BUY, "1", D("3000")))
    await broker.on_market_data(eth_book([(D("2998"), "50")], [(D("2999"), "50")]))
    await broker.settle()
    last = (await usdt_balances(bus))[-1]
    cost = D("3000") + D("3000") * D("0.0008")  # maker fill at the limit price
    assert (last.total, last.locked, last.available) == (CASH - cost, D(0), CASH - cost)
    await broker.close()
    await bus.close()


# -- invariant: the journal's last balance is the venue's, after any order sequence ----


actions = st.lists(
    st.tuples(
        st.sampled_from(["place", "modify", "cancel"]),
        st.integers(min_value=0, max_value=4),  # which order
        st.integers(min_value=1, max_value=5),  # quantity
        st.integers(min_value=2800, max_value=3050),  # limit price
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_the_last_journaled_balance_matches_the_working_orders(
    script: list[tuple[str, int, int, int]],
) -> None:
    async def run() -> None:
        bus, broker = await started()
        placed: set[str] = set()
        for action, n, qty, price in script:
            coid = f"o{n}"
            try:
                if action == "place" and coid not in placed:
                    placed.add(coid)
                    await broker.place(order(coid, Side.BUY, str(qty), D(price)))
                elif action == "modify" and coid in placed:
                    await broker.modify(coid, quantity=D(qty), limit_price=D(price))
                elif action == "cancel" and coid in placed:
                    await broker.cancel(coid)
            except Exception:  # refused (unknown, already cancelled): the venue decides
                pass
        reserved = sum(
            (
                (o.quantity - o.filled_qty) * o.limit_price * RATE
                for o in broker.venue.open_orders()
                if o.limit_price is not None
            ),
            D(0),
        )
        balances = await usdt_balances(bus)
        last = balances[-1]
        assert last.locked == reserved
        assert last.total == CASH
        assert all(b.available == b.total - b.locked for b in balances)
        await broker.close()
        await bus.close()

    asyncio.run(run())


async def test_a_stop_that_triggers_and_cannot_pay_releases_its_cash() -> None:
    bus, broker = await started(starting_cash={"USDT": "10000", "USD": "0"})
    await broker.place(order("s1", Side.BUY, "3", kind=OrderType.STOP, stop=D("3200")))
    locked = 3 * D("3200") * RATE
    last = (await usdt_balances(bus))[-1]
    assert (last.total, last.locked, last.available) == (D("10000"), locked, D("10000") - locked)
    # The market gaps through the stop: 3 at 3,500 is more than the cash.
    await broker.on_market_data(eth_book([(D("3499"), "50")], [(D("3500"), "50")]))
    await broker.settle()
    events = await exec_events(bus)
    assert [e.payload.status for e in events if isinstance(e, OrderUpdateEvent)][-1] is S.EXPIRED
    last = (await usdt_balances(bus))[-1]
    assert (last.total, last.locked, last.available) == (D("10000"), D(0), D("10000"))
    await broker.close()
    await bus.close()
