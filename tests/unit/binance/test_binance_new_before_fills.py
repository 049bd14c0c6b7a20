"""An order that trades as soon as it reaches Binance is journaled PENDING_NEW, NEW, its
fills, then FILLED, whichever reaches us first: the REST reply (FULL: the status and the
fills made at once) or the user stream's reports (executionReport NEW, one TRADE per
fill, then the account event). The real python-binance client runs against the fake.

Binance reports every order it takes NEW before it trades. A journal that reads FILL
before NEW has the order trade before the venue took it: the engine's OMS then refuses
the NEW (STALE after a partial fill, TERMINAL after the last) and the desk's log and the
order's history show the order back to NEW after its fills."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest

from silvertine_tui.domain import (
    TRANSITIONS,
    ApplyResult,
    ConnectionState,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.events import EventBase, FillEvent, OrderUpdateEvent
from tests.contract.test_broker_contract import fills, replay_orders, statuses
from tests.fakes.binance import FakeBinance
from tests.support.binance_broker import Session, binance_session
from tests.unit.binance.test_binance_broker_orders import KEY, ended, once_each, settled, wait_for

D = Decimal
S = OrderStatus
FILL = "FILL"


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        # The library's quick timings (a 0.2 s WebSocket API timeout) can leave the first
        # subscription unanswered on a busy machine: the broker retries, and then trades.
        deadline = time.monotonic() + 5
        while session.broker.state is not ConnectionState.LIVE:
            assert time.monotonic() < deadline, f"never LIVE: {session.broker.state}"
            await asyncio.sleep(0.02)
        # A buy of 0.5 walks two levels: two fills.
        await session.fake.set_book("ETHUSDT", [("1999", "5")], [("2001", "0.2"), ("2002", "5")])
        yield session


def buy(s: Session, **fields: Any) -> OrderRequest:
    return OrderRequest.model_validate(
        {"broker": s.broker.name, "account": s.broker.account, "instrument": KEY, "side": Side.BUY}
        | fields
    )


ORDERS: dict[str, Callable[[Session], OrderRequest]] = {
    "market": lambda s: buy(s, order_type=OrderType.MARKET, tif=TimeInForce.IOC, quantity=D("0.5")),
    "market by quote amount": lambda s: buy(
        s, order_type=OrderType.MARKET, tif=TimeInForce.IOC, quote_quantity=D("1000")
    ),
    "marketable limit IOC": lambda s: buy(
        s, order_type=OrderType.LIMIT, tif=TimeInForce.IOC, quantity=D("0.5"), limit_price=D(2002)
    ),
    "marketable limit GTC": lambda s: buy(
        s, order_type=OrderType.LIMIT, tif=TimeInForce.GTC, quantity=D("0.5"), limit_price=D(2002)
    ),
}


def reply_first(fake: FakeBinance) -> None:
    """Binance answers the REST call, then the stream brings the reports (the fake's way)."""


def reports_first(fake: FakeBinance) -> None:
    """The reports and the account event reach us before the REST reply."""
    fake.report_before_reply(delay=0.1)


def trade_before_new(fake: FakeBinance) -> None:
    """The reports first, the first TRADE report ahead of the NEW one."""
    fake.report_before_reply(delay=0.1)
    fake.reorder_next_reports(2)


ARRIVALS = {f.__name__: f for f in (reply_first, reports_first, trade_before_new)}


def journal(events: list[EventBase], coid: str) -> list[OrderStatus | str]:
    """The order's statuses and fills as journaled, in order."""
    found: list[OrderStatus | str] = []
    for event in events:
        if isinstance(event, OrderUpdateEvent) and event.payload.client_order_id == coid:
            found.append(event.payload.status)
        elif isinstance(event, FillEvent) and event.payload.client_order_id == coid:
            found.append(FILL)
    return found


@pytest.mark.parametrize("arrival", list(ARRIVALS))
@pytest.mark.parametrize("kind", list(ORDERS))
async def test_an_order_that_trades_at_once_is_journaled_new_before_its_fills(
    s: Session, kind: str, arrival: str
) -> None:
    ARRIVALS[arrival](s.fake)
    coid = await s.broker.place(ORDERS[kind](s))
    # Nothing waits for the NEW: the fills are journaled when the REST call returns.
    assert len(fills(await s.events(), coid)) == 2
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    assert len(fills(events, coid)) == 2, "the order walked two levels"
    seen = journal(events, coid)
    assert seen[:2] == [S.PENDING_NEW, S.NEW], seen
    assert seen.count(S.NEW) == 1, seen
    assert seen[-1] is S.FILLED, seen
    assert FILL not in seen[seen.index(S.FILLED) :], seen  # every fill before FILLED
    steps = statuses(events, coid)
    assert all(b in TRANSITIONS[a] for a, b in itertools.pairwise(steps)), steps
    once_each(events, coid)
    # The engine's OMS takes every report: none is out of order.
    orders, results = replay_orders(events)
    assert results[ApplyResult.STALE] == 0, seen
    order = orders[coid]
    assert order.status is S.FILLED
    assert order.filled_qty == sum((f.quantity for f in fills(events, coid)), D(0))
    assert order.venue_order_id == str(s.fake.order_by_client_id(coid).order_id)
    if arrival == "trade_before_new":
        sent = [e["x"] for e in s.fake.sent_user_events if e.get("e") == "executionReport"]
        assert sent[:2] == ["TRADE", "NEW"], "the fake did not reorder"


@pytest.mark.parametrize("arrival", list(ARRIVALS))
async def test_a_modify_that_trades_at_once_takes_its_new_terms_before_its_fills(
    s: Session, arrival: str
) -> None:
    """A resting buy of 0.3 moved to a marketable price and 0.5: Binance cancels it and
    places 0.5 that walks two levels. The journal reads PENDING_REPLACE, NEW at the new
    terms (the new venue id), the fills, FILLED. With the fills first, the OMS took them
    against the old 0.3 and refused the second as an overfill (FILLED with less filled
    than the venue filled, an overfill anomaly)."""
    coid = await s.broker.place(
        buy(s, order_type=OrderType.LIMIT, quantity=D("0.3"), limit_price=D(1990))
    )
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    ARRIVALS[arrival](s.fake)
    await s.broker.modify(coid, quantity=D("0.5"), limit_price=D(2002))
    await wait_for(s, ended(coid, S.FILLED), "FILLED")
    events = await settled(s)
    seen = journal(events, coid)
    after = seen[seen.index(S.PENDING_REPLACE) :]
    assert after[:2] == [S.PENDING_REPLACE, S.NEW], seen
    assert after[-1] is S.FILLED, seen
    assert after.count(FILL) == 2, seen
    once_each(events, coid)
    orders, results = replay_orders(events)
    assert results[ApplyResult.OVERFILL] == 0
    assert results[ApplyResult.STALE] == 0, seen
    order = orders[coid]
    assert (order.status, order.quantity, order.filled_qty) == (S.FILLED, D("0.5"), D("0.5"))
    assert order.limit_price == D(2002)
