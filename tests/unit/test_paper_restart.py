"""Restarting the paper venue from its journal: working orders come back with the
place in their price queue and the session they had live.

A restart must give the trader the venue they left: the same orders filling in the
same order, and DAY orders expiring when they would have.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import BrokerError
from silvertine_tui.brokers.paper import PaperBroker
from silvertine_tui.brokers.paper.venue import next_day_end
from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import PaperBrokerConfig
from silvertine_tui.domain import (
    Book,
    BookLevel,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tests.unit.test_paper_broker import paper_config as broker_config

ETH = "ETHUSDT.PAPER"
T0 = 1_767_625_200_000_000_000  # 2026-01-05 15:00 UTC
MS = 1_000_000


def paper_config(**overrides: Any) -> PaperBrokerConfig:
    """The paper tests' venue, answering at once."""
    overrides.setdefault("latency", {"ack_ms": 0, "fill_ms": 0, "cancel_ms": 0, "jitter_ms": 0})
    return broker_config(**overrides)


def limit(coid: str, side: Side, qty: str, price: str, tif: TimeInForce) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=ETH,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=D(qty),
        limit_price=D(price),
        tif=tif,
    )


def eth_book(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> Book:
    return Book(
        instrument=ETH,
        bids=tuple(BookLevel(price=D(p), size=D(s)) for p, s in bids),
        asks=tuple(BookLevel(price=D(p), size=D(s)) for p, s in asks),
    )


async def restarted_fills_b_first(bus: MemoryBus, live: list[str]) -> PaperBroker:
    """A venue restarted from `bus` holds the buys' queue as `live` did, and a seller
    trading 1 through 2000 fills B, not A."""
    second = PaperBroker(paper_config(), bus)
    await second.connect()
    restored = [o.client_order_id for o in second.venue._insts[ETH].buys.orders]
    assert restored == live, f"queue after the restart: {restored}, live: {live}"
    await second.on_market_data(eth_book([("1980", "5")], [("1999", "1")]))
    await second.settle()
    a, b = second.venue.order("A"), second.venue.order("B")
    assert a is not None
    assert b is not None
    assert (a.filled_qty, b.filled_qty) == (0, 1)
    return second


async def test_a_modified_order_stays_behind_in_its_queue_after_a_restart() -> None:
    """Two buys at 2000: A first, then B; the trader modifies A, which sends it behind
    B. After a restart, a seller trading 1 through 2000 fills B, as it would have live;
    the restart used to put A back in front (its place before the modify) and fill A."""
    bus = MemoryBus()
    await bus.start()
    first = PaperBroker(paper_config(), bus)
    await first.connect()
    await first.on_market_data(eth_book([("1990", "5")], [("2010", "5")]))
    await first.place(limit("A", Side.BUY, "1", "2000", TimeInForce.GTC))
    await first.place(limit("B", Side.BUY, "1", "2000", TimeInForce.GTC))
    await first.modify("A", quantity=D("2"))
    await first.settle()
    live = [o.client_order_id for o in first.venue._insts[ETH].buys.orders]
    assert live == ["B", "A"]
    await first.close()

    second = await restarted_fills_b_first(bus, live)
    a, b = second.venue.order("A"), second.venue.order("B")
    assert a is not None
    assert b is not None
    # New orders still get venue ids no order had.
    await second.place(limit("C", Side.BUY, "1", "1900", TimeInForce.GTC))
    c = second.venue.order("C")
    assert c is not None
    assert c.venue_order_id not in {a.venue_order_id, b.venue_order_id}
    assert c.seq > a.seq
    await second.close()
    await bus.close()


async def test_a_modified_order_stays_behind_in_its_queue_after_a_reseed() -> None:
    """The same after Redis lost the journal and the desk re-seeded it from the venue:
    the restart from the re-seeded journal fills B first, as live."""
    bus = MemoryBus()
    await bus.start()
    first = PaperBroker(paper_config(), bus)
    await first.connect()
    await first.on_market_data(eth_book([("1990", "5")], [("2010", "5")]))
    await first.place(limit("A", Side.BUY, "1", "2000", TimeInForce.GTC))
    await first.place(limit("B", Side.BUY, "1", "2000", TimeInForce.GTC))
    await first.place(limit("C", Side.BUY, "1", "1995", TimeInForce.GTC))
    await first.modify("A", quantity=D("2"))
    await first.settle()
    assert await first.reseed_journal()
    live = [o.client_order_id for o in first.venue._insts[ETH].buys.orders]
    assert live == ["B", "A", "C"]
    await first.close()

    second = await restarted_fills_b_first(bus, live)
    await second.close()
    await bus.close()


async def test_a_day_order_accepted_after_the_session_end_survives_a_restart() -> None:
    """A DAY buy sent 5 ms before the session end reaches the venue 5 ms after it: it
    works until the next session end. A minute later the desk restarts; the order is
    still working and expires at the same time as live (it used to expire at once: the
    restart took the time the request was sent, in the old session)."""
    end = next_day_end(T0, 0)
    now = [end - 5 * MS]

    class AckAcrossTheSessionEnd(PaperBroker):
        async def _submit(self, request: OrderRequest) -> None:
            now[0] = end + 5 * MS  # the ack latency crosses the session end
            await super()._submit(request)

    bus = MemoryBus()
    await bus.start()
    first = AckAcrossTheSessionEnd(paper_config(), bus, clock=lambda: now[0])
    await first.connect()
    await first.on_market_data(eth_book([("1990", "5")], [("2010", "5")]))
    await first.place(limit("D", Side.BUY, "1", "1900", TimeInForce.DAY))
    await first.settle()
    live = first.venue.order("D")
    assert live is not None
    assert live.expires_ns == end + 86_400_000 * MS
    await first.close()

    now[0] = end + 60_000 * MS
    second = PaperBroker(paper_config(), bus, clock=lambda: now[0])
    await second.connect()
    await second.on_market_data(eth_book([("1990", "5")], [("2010", "5")]))
    await second.settle()
    restored = second.venue.order("D")
    assert restored is not None
    assert restored.status is OrderStatus.NEW, f"a minute into the session: {restored.status}"
    assert restored.expires_ns == live.expires_ns
    await second.close()
    await bus.close()


# -- any session, restarted --------------------------------------------------------------

PRICES = [D("1995") + i for i in range(11)]
ACTION = st.one_of(
    st.tuples(
        st.just("order"),
        st.sampled_from([Side.BUY, Side.SELL]),
        st.sampled_from(["0.5", "1", "2"]),
        st.sampled_from(PRICES),
        st.sampled_from([OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT]),
        st.sampled_from([TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY]),
        st.booleans(),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(
        st.just("modify"), st.integers(0, 20), st.sampled_from(["1", "3"]), st.sampled_from(PRICES)
    ),
    st.tuples(st.just("book"), st.integers(-4, 4), st.sampled_from(["0.5", "1", "3"])),
)


def venue_state(broker: PaperBroker) -> dict[str, Any]:
    """What the trader trades against: cash (total, locked), positions, working orders
    and their places in the queues."""
    venue, account = broker.venue, broker.venue.account
    inst = venue._insts[ETH]
    return {
        "cash": {c: account.cash_state(c).total for c in account.cash},
        "locked": {c: account.cash_state(c).locked for c in account.cash},
        "locked_qty": {k: q for k, q in account.locked_qty.items() if q},
        "positions": {
            p.instrument: (p.quantity, p.avg_price, p.realized_pnl, p.fees)
            for p in venue.positions()
        },
        "open": {
            o.client_order_id: (
                o.status,
                o.quantity,
                o.filled_qty,
                o.limit_price,
                o.stop_price,
                o.triggered,
            )
            for o in venue.open_orders()
        },
        "queues": (
            [o.client_order_id for o in inst.buys.orders],
            [o.client_order_id for o in inst.sells.orders],
        ),
    }


async def session_then_restart(
    script: list[tuple[Any, ...]], short_selling: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    bus = MemoryBus()
    await bus.start()
    config = paper_config(checks={"short_selling": short_selling})
    first = PaperBroker(config, bus)
    await first.connect()
    await first.on_market_data(eth_book([("1999", "3")], [("2001", "3")]))
    sent: list[str] = []
    for action in script:
        with contextlib.suppress(BrokerError, ValueError):  # refusals are part of a day
            if action[0] == "order":
                _, side, qty, price, kind, tif, reduce_only = action
                if kind is OrderType.MARKET and tif is TimeInForce.GTC:
                    tif = TimeInForce.IOC
                coid = f"o{len(sent) + 1}"
                sent.append(coid)
                limited = kind in (OrderType.LIMIT, OrderType.STOP_LIMIT)
                stopped = kind in (OrderType.STOP, OrderType.STOP_LIMIT)
                await first.place(
                    OrderRequest(
                        client_order_id=coid,
                        broker="paper",
                        account="main",
                        instrument=ETH,
                        side=side,
                        order_type=kind,
                        quantity=D(qty),
                        limit_price=price if limited else None,
                        stop_price=price if stopped else None,
                        tif=tif,
                        reduce_only=reduce_only,
                    )
                )
            elif action[0] == "cancel" and sent:
                await first.cancel(sent[action[1] % len(sent)])
            elif action[0] == "modify" and sent:
                coid = sent[action[1] % len(sent)]
                held = first.venue.order(coid)
                limited = held is not None and held.limit_price is not None
                await first.modify(
                    coid, quantity=D(action[2]), limit_price=action[3] if limited else None
                )
            elif action[0] == "book":
                mid = 2000 + action[1]
                await first.on_market_data(
                    eth_book([(str(mid - 1), action[2])], [(str(mid + 1), action[2])])
                )
        await first.settle()
    live = venue_state(first)
    await first.close()
    second = PaperBroker(config, bus)
    await second.connect()
    await second.settle()
    restarted = venue_state(second)
    await second.close()
    await bus.close()
    return live, restarted


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTION, min_size=8, max_size=30), st.booleans())
def test_a_restart_gives_back_the_venue_the_trader_left(
    script: list[tuple[Any, ...]], short_selling: bool
) -> None:
    """Any session of orders of every type and time in force, reduce-only or not,
    cancels, modifies and moving books, with and without short selling: the venue
    rebuilt from the journal holds the same cash (total and locked), positions, working
    orders and queue places as the one that wrote it."""
    live, restarted = asyncio.run(session_then_restart(script, short_selling))
    assert restarted == live
