"""Follow-ups of `update_journaled` in the Binance adapter, each reproduced against the
fake Binance (the real python-binance client runs):

1. an order met only in Binance's listing after a restart (no status of the adapter's
   own) that FILLS while the user stream is down: the reconnect's catch-up publishes its
   fills, the journal ends it FILLED from them, and no update is journaled (so
   `update_journaled` never comes). The adapter held it working for ever: a cancel all
   (the kill switch's) journaled a cancel of the FILLED order, swept its symbol and asked
   Binance for it. Likewise an order met only in a trade's lookup (a fill made while the
   desk was away), ended at Binance;
2. Binance's answers the adapter cannot read while it checks a lost modify, or while it
   settles a cancel's or a half-refused modify's unreadable answer: counted and shown in
   the broker's health, not only logged;
3. a report recovery that gives up (Binance does not answer) asks for a reconcile and
   keeps asking Binance, slowly, until the order is settled: nothing else would ask (a
   REST outage alone brings no reconnect);
4. log lines whose extras were named like the line's own fields (`event`): renamed;
5. a status recorded by `update_journaled` while a publish of the same order waited
   for the journal is not overwritten by that publish.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.brokers.binance.errors import CancelReplaceFailed
from silvertine_tui.bus import EventBus
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    OrderStatus,
)
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import CancelRequestEvent, EventBase, OrderUpdateEvent
from silvertine_tui.logsetup import JsonFormatter
from silvertine_tui.ui.widgets.health import errors_text
from tests.contract.test_broker_contract import fills, statuses, updates
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import (
    health_metrics,
    journaled,
    o1,
    o1_filled,
    o1_then_restart,
    stream_back,
    stream_down,
)
from tests.support.waiting import until
from tests.unit.binance.test_binance_broker_orders import (
    ended,
    once_each,
    req,
    settled,
    wait_for,
)

S = OrderStatus
ETH = "ETHUSDT.BINANCE"
ORDERS = "/api/v3/order"
TRADES = "/api/v3/myTrades"


def cancels_of(events: list[EventBase], coid: str) -> list[EventBase]:
    return [
        e for e in events if isinstance(e, CancelRequestEvent) and e.payload.client_order_id == coid
    ]


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield session


# -- 1. an order met only in the listing that fills while the stream is down ------------


async def test_an_order_met_in_the_listing_that_filled_unheard_is_let_go() -> None:
    """o1 is working when the desk restarts: the adapter meets it only in Binance's
    listing. While the user stream is down it fills whole at Binance. The reconnect's
    catch-up publishes its fill and the journal ends it FILLED from it; no update is
    journaled, so nothing tells the adapter. A cancel all (the kill switch's) then
    journals no cancel of it and asks Binance nothing about it."""
    async with o1_then_restart() as (s, engine, again, found):
        assert found == []  # o1 met in the listing

        driver = await stream_down(s, again)
        await s.fake.fill(s.fake.order_by_client_id("o1").order_id)  # whole, unheard
        s.fake.exchange.take_user_events()
        await stream_back(driver, again)  # its catch-up publishes the fill
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)
        assert await reconcile_broker(engine, again) == []  # as the session does then

        start = len(s.fake.requests)
        assert await again.cancel_all(reason="kill switch") == []
        assert s.fake.requests[start:] == [("GET", "/api/v3/openOrders")]
        events = await s.events()
        assert cancels_of(events, "o1") == []
        assert statuses(events, "o1") == [S.PENDING_NEW, S.NEW]  # FILLED: from the fill
        assert [f.quantity for f in fills(events, "o1")] == [D("1.0")]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)
        assert not engine.anomalies.total


async def test_an_ended_order_met_in_a_missed_fill_s_lookup_is_no_cancel_target() -> None:
    """o1 fills whole at Binance while the desk is stopped. After the restart the
    reconcile's missed fill names it by Binance's order id only, and the adapter asks
    Binance which order that is: FILLED. It has no status of the adapter's own, yet it
    is ended: a cancel all journals no cancel of it and asks Binance nothing of it."""
    async with o1_then_restart(o1_filled) as (s, engine, again, found):
        assert [r.kind.value for r in found] == ["MISSED_FILL"]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)

        start = len(s.fake.requests)
        assert await again.cancel_all(reason="kill switch") == []
        assert s.fake.requests[start:] == [("GET", "/api/v3/openOrders")]
        events = await s.events()
        assert cancels_of(events, "o1") == []
        assert S.PENDING_CANCEL not in statuses(events, "o1")
        assert not engine.anomalies.total


# -- 2. Binance's answers the adapter cannot read: counted -------------------------------


async def test_an_unreadable_answer_to_a_lost_modify_s_check_is_counted(s: Session) -> None:
    """The modify's answer was lost (the connection cut after Binance replaced the
    order) and the stream says nothing; the check's first query of the order answers a
    status this adapter cannot read. It is asked again (and finds the replacement), and
    the unreadable answer is counted and shown in the health pane, not only logged."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.reorder_next_reports(1000)  # the stream says nothing of what follows
    s.fake.reset_next_requests(1, after_processing=True, path="/api/v3/order/cancelReplace")
    s.fake.report_unknown_status("NEW_SPELLING", queries=1)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await wait_for(
        s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "NEW at 1985, asked again"
    )
    assert updates(events, coid)[-1].limit_price == D("1985")
    errors = s.broker.health_state.errors
    assert errors["replace_check_unreadable"] == 1
    assert "replace_check_unreadable 1" in errors_text(await health_metrics(s))


async def test_a_cancel_answer_and_its_query_both_unreadable_are_counted(s: Session) -> None:
    """The cancel's answer cannot be read, nor the answer to the query that asks
    Binance what became of the order: both counted (`bad_reply`,
    `bad_reply_unresolved`) and shown; the order settles from Binance (asked again)."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.report_unknown_status("CANCELED_NEW_SPELLING", cancels=1, queries=1)
    with pytest.raises(BrokerTimeout, match="is not known"):
        await s.broker.cancel(coid)
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED, asked again")
    once_each(events, coid)
    errors = s.broker.health_state.errors
    assert (errors["bad_reply"], errors["bad_reply_unresolved"]) == (1, 1)
    shown = errors_text(await health_metrics(s))
    assert "bad_reply 1" in shown, shown
    assert "bad_reply_unresolved 1" in shown, shown


async def test_a_half_refused_modify_whose_query_is_unreadable_too_is_counted(
    s: Session,
) -> None:
    """Binance cancelled the old order and refused the new one (-2021); its
    `cancelResponse` cannot be read, nor the query of the order after it: both counted
    and shown; the order ends CANCELED, asked again."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    s.fake.reject_next_order()  # the new order is refused: the cancel stands (-2021)
    s.fake.report_unknown_status("CANCELED_NEW_SPELLING", replace_cancels=1, queries=1)
    with pytest.raises(CancelReplaceFailed, match="cancelled the old order"):
        await s.broker.modify(coid, limit_price=D("1985"))
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED, asked again")
    once_each(events, coid)
    errors = s.broker.health_state.errors
    assert (errors["bad_reply"], errors["bad_reply_unresolved"]) == (1, 1)
    assert "bad_reply_unresolved 1" in errors_text(await health_metrics(s))


# -- 3. a recovery that gives up asks for a reconcile and keeps asking --------------------


async def test_a_recovery_that_gives_up_reconciles_and_asks_again_until_answered(
    s: Session,
) -> None:
    """A TRADE report the adapter cannot read, and every query of its order fails for
    longer than the recovery's tries: counted, the session asked to reconcile the
    account, and the order asked again later. Once Binance answers, its fill and FILLED
    arrive, each once. Before, it waited for a reconnect that nothing brings (REST out
    alone brings none): FILLED at Binance, working on the desk."""
    s.broker.recover_pause_s = (0.01, 0.02)  # (its tries, without their minutes)
    s.broker.recover_later_s = 0.1
    reconciles: list[float] = []

    async def reconcile() -> None:  # (the session's listener: it reconciles the account)
        reconciles.append(time.monotonic())

    s.broker.on_reconnect(reconcile)
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    s.fake.fail_next_requests(10_000, path=ORDERS, after_processing=False)
    s.fake.report_unknown_status("FILLED_NEW_SPELLING", reports=1)
    await s.fake.fill(order_id, D("0.5"))  # whole: FILLED at Binance

    errors = s.broker.health_state.errors
    await until(lambda: errors["bad_report_unresolved"] > 0, 5.0, "the quick tries to give up")
    await until(lambda: len(reconciles) == 1, 5.0, "a reconcile asked for")
    asked = s.fake.requests.count(("GET", ORDERS))
    await until(
        lambda: s.fake.requests.count(("GET", ORDERS)) > asked + 1, 5.0, "the order asked again"
    )
    assert S.FILLED not in statuses(await s.events(), coid)
    s.fake.fail_next_requests(0)  # Binance answers again

    events = await wait_for(s, ended(coid, S.FILLED), "FILLED, asked again later")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")]
    once_each(events, coid)
    assert (errors["bad_report"], errors["bad_report_unresolved"]) == (1, 1)
    assert len(reconciles) == 1
    assert "bad_report_unresolved 1" in errors_text(await health_metrics(s))


# -- 4. a log line's extras never named like its own fields -------------------------------


async def test_a_bad_report_s_log_line_keeps_its_event_name(
    s: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """The line logged for an executionReport the adapter cannot read is named
    `binance.bad_report` and carries the report under `report`: passed as `event`, the
    extra was named like the line's own event name (the JSON formatter's field)."""
    caplog.set_level(logging.ERROR, logger="silvertine_tui.brokers.binance")
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    s.fake.report_unknown_status("FILLED_NEW_SPELLING", reports=1)
    await s.fake.fill(s.fake.order_by_client_id(coid).order_id, D("0.5"))
    await wait_for(s, ended(coid, S.FILLED), "FILLED, asked of Binance")

    [record] = [r for r in caplog.records if r.getMessage() == "binance.bad_report"]
    assert not hasattr(record, "event")
    assert "FILLED_NEW_SPELLING" in record.report  # type: ignore[attr-defined]
    line = json.loads(JsonFormatter().format(record))
    assert line["event"] == "binance.bad_report"
    assert "FILLED_NEW_SPELLING" in line["report"]
    assert not [key for key in line if key.startswith("x_")], line


# -- 5. an end the reconcile journaled while a publish of the order waited ----------------


class HeldWrites:
    """Redis slow to take some writes: each event `picked` takes waits until `release`
    is set (its writer awaits meanwhile; everything else is written at once)."""

    def __init__(self, bus: EventBus, picked: Callable[[EventBase], bool]) -> None:
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self._picked = picked
        self._publish = bus.publish
        bus.publish = self._write  # type: ignore[method-assign]

    async def _write(self, event: EventBase) -> str | None:
        if self._picked(event) and not self.release.is_set():
            self.holding.set()
            await self.release.wait()
        return await self._publish(event)


async def test_an_end_journaled_while_a_report_waits_for_the_journal_stands() -> None:
    """o1 fills 0.4; its PARTIALLY_FILLED waits for the journal (Redis slow to take it)
    when Binance cancels the rest, unheard. The session's reconcile finds o1 no longer
    open and journals it CANCELED (`update_journaled`) while that write still waits.
    Once written, the PARTIALLY_FILLED does not put o1 back to working in the adapter:
    a cancel all then journals no cancel of it and asks Binance nothing of it."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
        held = HeldWrites(
            s.bus,
            lambda e: (
                isinstance(e, OrderUpdateEvent)
                and e.payload.client_order_id == "o1"
                and e.payload.status is S.PARTIALLY_FILLED
            ),
        )
        await s.fake.fill(s.fake.order_by_client_id("o1").order_id, D("0.4"))
        await asyncio.wait_for(held.holding.wait(), 5)
        s.fake.exchange.cancel("ETHUSDT", None, "o1")  # the rest cancelled, unheard
        s.fake.exchange.take_user_events()
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.filled_qty == D("0.4"))
        found = await reconcile_broker(engine, s.broker)
        assert [(r.kind.value, r.client_order_id) for r in found] == [("LOCAL_ORDER_UNKNOWN", "o1")]
        held.release.set()
        await wait_for(
            s, lambda ev: S.PARTIALLY_FILLED in statuses(ev, "o1"), "the held write, written"
        )
        await settled(s)

        start = len(s.fake.requests)
        assert await s.broker.cancel_all(reason="kill switch") == []
        assert s.fake.requests[start:] == [("GET", "/api/v3/openOrders")]
        events = await s.events()
        assert cancels_of(events, "o1") == []
        assert S.PENDING_CANCEL not in statuses(events, "o1")
