"""Small follow-ups of `TrackedOrder.ended` in the Binance adapter, against the fake
Binance (the real python-binance client runs):

1. a cancel of an order met only in Binance's listing after a restart (no status of
   the adapter's own) that Binance has already ended: nothing is sent, no
   PENDING_CANCEL journaled, as for an order whose own status is terminal;
2. the health's `working_orders` counts the orders met only in the listing that still
   work;
3. a user-data event handler's failure is logged with its exception.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from silvertine_tui.brokers.binance.broker import BinanceBroker
from silvertine_tui.brokers.binance.user_stream import UserStream
from silvertine_tui.brokers.errors import CancelTooLate
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.core import TradingEngine
from tests.contract.test_broker_contract import statuses
from tests.support.binance_broker import Session
from tests.support.binance_stream import (
    journaled,
    o1_filled,
    o1_then_restart,
    stream_back,
    stream_down,
)

S = OrderStatus
ORDERS = "/api/v3/order"


@pytest.fixture
async def restarted() -> AsyncIterator[tuple[Session, TradingEngine, BinanceBroker]]:
    """o1 placed and NEW; the desk restarts: the new adapter meets o1 only in
    Binance's listing (no status of its own)."""
    async with o1_then_restart() as (s, engine, again, found):
        assert found == []  # o1 met in the listing
        yield s, engine, again


async def working_orders(s: Session, broker: BinanceBroker) -> Any:
    await broker.publish_health()
    entries = await s.bus.read(s.bus.layout.health)
    return entries[-1].event.payload.metrics["working_orders"]  # type: ignore[union-attr]


# -- 1. a cancel of an order ended at Binance, met only in its listing --------------------


async def test_a_cancel_of_an_order_binance_ended_met_after_a_restart_sends_nothing() -> None:
    """o1 fills whole at Binance while the desk is stopped. After the restart the
    reconcile's missed fill names it by Binance's order id and the adapter asks Binance
    which order that is: FILLED (no status of the adapter's own; `ended` from Binance's
    word). A cancel of it says it came too late and nothing was sent: no DELETE, no
    PENDING_CANCEL journaled."""
    async with o1_then_restart(o1_filled) as (s, engine, again, found):
        assert [r.kind.value for r in found] == ["MISSED_FILL"]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)
        tracked = again._orders["o1"]
        assert tracked.status is None
        assert tracked.venue_status is S.FILLED

        start = len(s.fake.requests)
        with pytest.raises(CancelTooLate, match="nothing was sent"):
            await again.cancel("o1", "by hand")
        assert ("DELETE", ORDERS) not in s.fake.requests[start:]
        assert S.PENDING_CANCEL not in statuses(await s.events(), "o1")


# -- 2. working_orders counts the listed orders that still work ---------------------------


async def test_health_counts_a_listed_order_still_working(
    restarted: tuple[Session, TradingEngine, BinanceBroker],
) -> None:
    """o1, met only in the listing, still works at Binance: one working order. Once
    Binance has filled it (heard through the catch-up), none."""
    s, engine, again = restarted
    assert again._orders["o1"].status is None
    assert not again._orders["o1"].ended
    assert await working_orders(s, again) == 1

    driver = await stream_down(s, again)
    await s.fake.fill(s.fake.order_by_client_id("o1").order_id)
    s.fake.exchange.take_user_events()
    await stream_back(driver, again)
    await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)
    assert await working_orders(s, again) == 0


# -- 3. a failed event handler logged with its exception ----------------------------------


async def test_a_failed_user_event_is_logged_with_its_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The handler of a user-data event raises: the line logged carries that
    exception (not `NoneType: None`)."""

    async def on_event(message: dict[str, Any]) -> None:
        raise ValueError(f"cannot read {message['e']}")

    async def nothing(*_: Any) -> None:
        return None

    stream = UserStream(
        client=lambda: None,
        restart_client=nothing,
        on_event=on_event,
        on_lost=nothing,
        on_back=nothing,
    )
    caplog.set_level(logging.ERROR, logger="silvertine_tui.brokers.binance")
    await stream._dispatch({"e": "executionReport"})
    [record] = [r for r in caplog.records if r.getMessage() == "binance.user_event_failed"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "cannot read executionReport" in str(record.exc_info[1])
    assert stream.events == 1
