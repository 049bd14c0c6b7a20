"""A user-data event of a type the adapter does not know (one Binance added, or
garbage) was dropped with no count and no log line (a chaos drill's `weirdEvent`).
Now each is counted (`user_event_unknown`, a health metric, with the types in
`user_event_types_unknown`) and logged once per type; the stream reads on."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal as D

import pytest

from silvertine_tui.domain import OrderStatus
from silvertine_tui.events import OrderUpdateEvent
from tests.support.binance_broker import binance_session
from tests.support.binance_stream import health_metrics, o1


def weird(kind: str) -> dict[str, object]:
    return {"e": kind, "E": int(time.time() * 1000), "x": {"nested": [1, 2]}}


async def test_unknown_user_events_are_counted_and_logged_once_per_type(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        with caplog.at_level(logging.DEBUG, logger="silvertine_tui.brokers.binance.broker"):
            for kind in ("weirdEvent", "weirdEvent", "otherEvent", "weirdEvent"):
                await s.fake.send_user_event(weird(kind))
            await s.fake.send_user_event({"E": 1})  # no type at all
            await s.driver.settle()
        assert s.broker.health_state.errors["user_event_unknown"] == 5
        metrics = await health_metrics(s)
        assert metrics["error:user_event_unknown"] == 5
        assert metrics["user_event_types_unknown"] == "None,otherEvent,weirdEvent"
        logged = [r for r in caplog.records if r.getMessage() == "binance.user_event_unknown"]
        assert [(r.levelno, r.event_type) for r in logged] == [  # type: ignore[attr-defined]
            (logging.WARNING, "weirdEvent"),
            (logging.WARNING, "otherEvent"),
            (logging.WARNING, "None"),
        ]
        assert "nested" in logged[0].event  # type: ignore[attr-defined]
        # The stream reads on: the next order's reports are taken.
        await s.broker.place(o1())
        await s.fake.fill(s.fake.order_by_client_id("o1").order_id, qty=D("0.4"))
        await s.driver.settle()

        for _ in range(300):
            updates = [e for e in await s.events() if isinstance(e, OrderUpdateEvent)]
            if updates and updates[-1].payload.status is OrderStatus.PARTIALLY_FILLED:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("o1's fill report was not taken")


async def test_known_event_types_without_use_are_not_counted() -> None:
    """Binance's documented `listStatus` (order lists: the desk places none) and
    `externalLockUpdate` are known: neither counted nor said unknown."""
    async with binance_session() as s:
        await s.fake.send_user_event(weird("listStatus"))
        await s.fake.send_user_event(weird("externalLockUpdate"))
        await s.driver.settle()
        assert s.broker.health_state.errors["user_event_unknown"] == 0
        assert "user_event_types_unknown" not in await health_metrics(s)
