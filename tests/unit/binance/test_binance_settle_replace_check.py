"""Two asks of Binance that went on unanswered without a word to the trader, reproduced
against the fake Binance (the real python-binance client runs):

1. `_settle_unheard`: an order met only in Binance's listing after a restart, gone from
   the listing at a reconnect, whose query failed then. It was left working in the
   adapter until the next catch-up (hours away while the user stream stays up): a
   cancel all, the kill switch's, journaled a cancel of an order the journal held
   FILLED. It is asked again in the background, as a report's recovery is (quick asks,
   then every `recover_later_s`), counted and said in the health when the quick asks
   fail, and asked no more once it ended otherwise (the reconcile's end).
2. `_check_replace`: a modify whose answer was lost, and Binance's queries failing for
   good: asked every 2 s for ever, PENDING_REPLACE for ever, nothing said. After the
   receive window and a margin it is said unresolved (counted, a health message), asked
   every `recover_later_s`, and still settled by Binance's answer or the stream's
   report. A cancel meanwhile ends the order and the asks with it (they went on every
   2 s for an order the journal held CANCELED).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerTimeout
from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import CancelRequestEvent, EventBase, HealthEvent, ReconcileKind
from silvertine_tui.ui.widgets.health import Metrics, errors_text
from tests.contract.test_broker_contract import fills, statuses, updates
from tests.support.binance_broker import Session, binance_session
from tests.support.binance_stream import journaled, o1_then_restart, stream_back, stream_down
from tests.support.waiting import until
from tests.unit.binance.test_binance_broker_orders import (
    ended,
    once_each,
    req,
    sendable,
    settled,
    wait_for,
)

S = OrderStatus
ORDERS = "/api/v3/order"
REPLACE = "/api/v3/order/cancelReplace"
GET_ORDER = ("GET", ORDERS)
# A proxy's error page: Binance is reached, the answer is no order (a BrokerError that
# leaves the REST link up, so nothing else of the test waits for a ping to bring it back).
PROXY_PAGE = "<html><body>400 Bad Request</body></html>"


def queries_fail(s: Session, count: int = 10_000) -> None:
    """The next `count` queries of an order (GET order) fail; cancels go through."""
    s.fake.fail_next_requests(
        count, status=400, body=PROXY_PAGE, after_processing=False, path=ORDERS, method="GET"
    )


def asked(s: Session) -> int:
    return s.fake.requests.count(GET_ORDER)


async def metrics_of(s: Session, broker: BinanceBroker) -> Metrics:
    await broker.publish_health()
    entries = await s.bus.read(s.bus.layout.health)
    return dict(entries[-1].event.payload.metrics)  # type: ignore[union-attr]


async def said(s: Session, *words: str) -> str:
    """The broker's health message (the health pane's message line, a line of the Log
    pane) that holds every one of `words`, once published."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while True:
        for entry in await s.bus.read(s.bus.layout.health):
            event = entry.event
            if isinstance(event, HealthEvent) and all(w in event.payload.message for w in words):
                return event.payload.message
        assert loop.time() < deadline, f"no health message saying {words}"
        await asyncio.sleep(0.01)


def cancels_of(events: list[EventBase], coid: str) -> list[EventBase]:
    return [
        e for e in events if isinstance(e, CancelRequestEvent) and e.payload.client_order_id == coid
    ]


async def working_here(broker: BinanceBroker) -> int:
    """The orders the adapter holds working (its health's `working_orders`)."""
    await broker.publish_health()
    return int(broker.health_state.extra["working_orders"])


# -- 1. an end met at a reconnect that Binance did not say ---------------------------------


async def test_an_unheard_end_binance_does_not_say_is_asked_again_until_it_does() -> None:
    """o1, met only in Binance's listing after a restart, fills whole while the user
    stream is down. At the reconnect it is gone from the listing and the query of it
    fails; the catch-up publishes its fill and the journal ends it FILLED from it. The
    query keeps failing: after the quick asks it is counted and said in the health,
    and asked again every `recover_later_s`; once Binance answers, the adapter holds it
    ended, and a cancel all (the kill switch's) journals no cancel of it and asks
    Binance nothing of it. Before, it stayed working here until the next catch-up."""
    async with o1_then_restart() as (s, engine, again, found):
        assert found == []  # o1 met in the listing
        again.recover_pause_s = (0.01, 0.02)  # (the quick asks, without their seconds)
        again.recover_later_s = 0.1
        driver = await stream_down(s, again)
        await s.fake.fill(s.fake.order_by_client_id("o1").order_id)  # whole, unheard
        s.fake.exchange.take_user_events()
        queries_fail(s)
        start = asked(s)
        await stream_back(driver, again)  # its catch-up publishes the fill
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.FILLED)

        errors = again.health_state.errors
        await until(lambda: errors["unheard_unresolved"] > 0, 5.0, "o1 said unresolved")
        assert asked(s) - start >= again.recover_tries + 1  # the catch-up's, then the quick
        assert "unheard_unresolved 1" in errors_text(await metrics_of(s, again))
        message = await said(s, "o1", "did not answer")
        assert "asked again every 0.1 s" in message, message
        assert await working_here(again) == 1  # (what a cancel all would target)
        now = asked(s)
        await until(lambda: asked(s) > now + 1, 5.0, "o1 asked again later")

        s.fake.fail_next_requests(0)  # Binance answers again
        await said(s, "o1", "Binance answered")
        assert await working_here(again) == 0
        start = len(s.fake.requests)
        assert await again.cancel_all(reason="kill switch") == []
        assert s.fake.requests[start:] == [("GET", "/api/v3/openOrders")]
        events = await s.events()
        assert cancels_of(events, "o1") == []
        assert statuses(events, "o1") == [S.PENDING_NEW, S.NEW]  # FILLED: from the fill
        assert [f.quantity for f in fills(events, "o1")] == [D("1.0")]
        assert errors["unheard_unresolved"] == 1
        assert not engine.anomalies.total


async def test_an_unheard_end_the_reconcile_journals_is_asked_no_more() -> None:
    """o1, met only in the listing, is cancelled at Binance while the user stream is
    down, and every query of it fails. It is asked again in the background; the
    session's reconcile then finds it no longer open and journals it CANCELED
    (`update_journaled`): the asks stop there, unanswered (and the trader is told)."""
    async with o1_then_restart() as (s, engine, again, _):
        again.recover_pause_s = (0.01, 0.02)
        again.recover_later_s = 60.0  # (the slow asks: the reconcile's end is seen before)
        driver = await stream_down(s, again)
        s.fake.exchange.cancel("ETHUSDT", None, "o1")  # cancelled elsewhere, unheard
        s.fake.exchange.take_user_events()
        queries_fail(s)
        start = asked(s)
        await stream_back(driver, again)
        await until(lambda: asked(s) > start + 2, 5.0, "o1 asked again in the background")
        await until(
            lambda: again.health_state.errors["unheard_unresolved"] == 1, 5.0, "said unresolved"
        )

        found = await reconcile_broker(engine, again)  # as the session does then
        assert [(r.kind, r.client_order_id) for r in found] == [
            (ReconcileKind.LOCAL_ORDER_UNKNOWN, "o1")
        ]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.CANCELED)
        await until(lambda: "o1" not in again._unheard_checks, 5.0, "the asks to stop")
        await said(s, "o1", "CANCELED")
        assert await working_here(again) == 0
        now = asked(s)
        assert await again.cancel_all(reason="kill switch") == []
        assert asked(s) == now
        assert statuses(await s.events(), "o1") == [S.PENDING_NEW, S.NEW, S.CANCELED]
        # Ended by the reconcile, its end not known here: the trader is told
        # (`order_gone`: a toast, a count in Health).
        assert engine.anomalies.counts == {AnomalyKind.ORDER_GONE: 1}


# -- 2. a lost modify Binance never settles ------------------------------------------------


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        broker = session.broker
        broker.unknown_order_window_s = 0.2  # (Binance's receive window, shortened)
        broker.replace_margin_s = 0.1
        broker.replace_check_pause_s = (0.01, 0.02)  # (the quick asks, shortened)
        broker.recover_later_s = 0.3  # (the slow asks: 30 s)
        yield session


async def lost_modify(
    s: Session, *, done: bool, hold_reports: bool = False, queries: str = "failing"
) -> str:
    """A working order whose modify to 1,985 gets no answer (`done`: Binance did it),
    and every query of it from then `failing`, or answered with a status this adapter
    cannot read (`unreadable`: one Binance added) (`hold_reports`: the stream late with
    what follows)."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    await settled(s)
    if queries == "failing":
        queries_fail(s)
    else:
        s.fake.report_unknown_status("NEW_IN_SOME_NEW_WAY", queries=10_000)
    if hold_reports:
        s.fake.reorder_next_reports(1_000)
    s.fake.reset_next_requests(1, after_processing=done, path=REPLACE)
    with pytest.raises(BrokerTimeout):
        await s.broker.modify(coid, limit_price=D("1985"))
    return coid


async def gap_between_asks(s: Session) -> float:
    """Seconds between the next two queries of the order."""
    loop = asyncio.get_running_loop()
    now = asked(s)
    await until(lambda: asked(s) > now, 5.0, "an ask")
    first = loop.time()
    await until(lambda: asked(s) > now + 1, 5.0, "the ask after it")
    return loop.time() - first


@pytest.mark.parametrize("queries", ["failing", "unreadable"])
async def test_a_lost_modify_binance_never_answers_is_said_and_asked_slowly(
    s: Session, queries: str
) -> None:
    """Binance did nothing of the modify, and its queries fail (or answer a status the
    adapter cannot read, each counted). Past the receive window and the margin the
    order is counted and said unresolved in the health, still PENDING_REPLACE, and
    asked every `recover_later_s` instead of every 2 s. Once Binance answers, it is
    found working at its old terms: NEW again, and the trader told it is settled.
    Before, it was asked every 2 s for ever, in silence."""
    coid = await lost_modify(s, done=False, queries=queries)
    errors = s.broker.health_state.errors
    await until(lambda: errors["replace_unresolved"] > 0, 5.0, "the modify said unresolved")
    assert "replace_unresolved 1" in errors_text(await metrics_of(s, s.broker))
    message = await said(s, coid, "PENDING_REPLACE")
    assert "every 0.3 s" in message, message
    assert statuses(await s.events(), coid)[-1] is S.PENDING_REPLACE
    assert await gap_between_asks(s) >= 0.25  # slowed down (they were 0.01-0.02 s)
    if queries == "unreadable":
        assert errors["replace_check_unreadable"] >= 2  # each answer counted

    s.fake.fail_next_requests(0)  # Binance answers: the old order, working
    s.fake.report_unknown_status(queries=0)
    events = await wait_for(s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "NEW again")
    last = updates(events, coid)[-1]
    assert "did not take it" in last.reason, last.reason
    venue = s.fake.order_by_client_id(coid)
    assert (venue.status, venue.price) == ("NEW", D("1990"))
    await said(s, coid, "settled")
    await until(lambda: coid not in s.broker._replace_checks, 5.0, "the check done")
    assert errors["replace_unresolved"] == 1
    once_each(await s.events(), coid)


async def test_a_lost_modify_said_unresolved_is_settled_by_the_stream_s_report(
    s: Session,
) -> None:
    """Binance did the modify; its reports are late and its queries fail: said
    unresolved. The stream's reports then come: the order is NEW at 1,985, and the
    trader told it is settled (at once, not at the next slow ask)."""
    s.broker.recover_later_s = 60.0
    coid = await lost_modify(s, done=True, hold_reports=True)
    errors = s.broker.health_state.errors
    await until(lambda: errors["replace_unresolved"] > 0, 5.0, "the modify said unresolved")
    assert await s.fake.release_held_reports() == 2  # the old order's CANCELED, the new NEW
    events = await wait_for(s, lambda ev: statuses(ev, coid)[-1] is S.NEW, "NEW at 1,985")
    assert updates(events, coid)[-1].limit_price == D("1985")
    await said(s, coid, "settled")
    await until(lambda: coid not in s.broker._replace_checks, 5.0, "the check done")
    assert errors["replace_unresolved"] == 1
    s.fake.fail_next_requests(0)
    once_each(await settled(s), coid)


async def test_a_cancel_while_a_lost_modify_is_unresolved_ends_the_asks(s: Session) -> None:
    """The trader cancels the order whose modify is said unresolved: the cancel goes
    (Binance cancels the order working under the client id), the order ends CANCELED,
    and the asks about the modify stop. Before, they went on every 2 s for ever for an
    order the journal held CANCELED (and kept it from being let go). The trader is
    told at once, not at the next slow ask."""
    s.broker.recover_later_s = 60.0
    coid = await lost_modify(s, done=False)
    await until(
        lambda: s.broker.health_state.errors["replace_unresolved"] > 0, 5.0, "said unresolved"
    )
    await sendable(s, cancel=True)
    await s.broker.cancel(coid)
    events = await wait_for(s, ended(coid, S.CANCELED), "CANCELED")
    assert s.fake.order_by_client_id(coid).status == "CANCELED"
    await until(lambda: coid not in s.broker._replace_checks, 5.0, "the asks to stop")
    await said(s, coid, "CANCELED")
    assert [u.filled_qty for u in updates(events, coid) if u.status is S.CANCELED] == [D(0)]
    s.fake.fail_next_requests(0)
    once_each(await settled(s), coid)
