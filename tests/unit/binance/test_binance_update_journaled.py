"""Two loose ends of the Binance adapter, reproduced against the fake Binance (the real
python-binance client runs):

1. `Broker.update_journaled`: an update the engine's reconcile journaled itself (the
   venue's status taken, an order no longer open at Binance) reaches the adapter, which
   then holds the order as the journal does. Before, an order met only in Binance's
   listing after a restart (no status of the adapter's own) that ended while the user
   stream was down stayed working in the adapter for ever: every catch-up asked its
   symbol's trades again, and every cancel all journaled a cancel of it after its
   CANCELED and asked Binance for it.
2. A report recovery (`_recover_report`) that gives up is counted
   (`bad_report_unresolved`) and shows in the broker's health, as every other piece of
   bad data from Binance does; before, it was only logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal as D

import pytest

from silvertine_tui.brokers import BrokerError
from silvertine_tui.config import RiskConfig
from silvertine_tui.domain import (
    OrderStatus,
)
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.core import TradingEngine
from silvertine_tui.engine.recovery import reconcile_broker
from silvertine_tui.events import OrderUpdateEvent, ReconcileKind
from silvertine_tui.ui.widgets.health import errors_text
from tests.contract.test_broker_contract import fills, statuses
from tests.fakes.binance.client import binance_client
from tests.support.binance_broker import Session, binance_session, build_broker
from tests.support.binance_stream import (
    health_metrics,
    journaled,
    o1,
    o1_then_restart,
    stream_back,
    stream_down,
)
from tests.support.waiting import until
from tests.unit.binance.test_binance_broker_orders import ended, once_each, req, wait_for

S = OrderStatus
ETH = "ETHUSDT.BINANCE"
# What Binance is asked about an order: its trades, itself.
ORDER_QUERIES = {("GET", "/api/v3/myTrades"), ("GET", "/api/v3/order")}


async def cancelled_elsewhere(s: Session, coid: str) -> None:
    """Binance cancels the order (another program, the web page); its report is lost
    (the user stream is down)."""
    s.fake.exchange.cancel("ETHUSDT", None, coid)
    s.fake.exchange.take_user_events()


def asked_since(s: Session, start: int) -> list[tuple[str, str]]:
    return [r for r in s.fake.requests[start:] if r in ORDER_QUERIES]


# -- 1. update_journaled ----------------------------------------------------------------


async def test_an_order_the_reconcile_ends_is_no_longer_asked_about() -> None:
    """o1 is working when the desk restarts: the adapter meets it only in Binance's
    listing. While the user stream is down Binance cancels it; the reconnect's catch-up
    cannot publish its end (the journal's status is unknown to the adapter), and the
    session's reconcile journals it CANCELED, no longer open at Binance. From then on
    the adapter holds it ended: a later catch-up asks Binance nothing about it, and a
    cancel all neither journals a cancel of it nor asks Binance for it."""
    async with o1_then_restart() as (s, engine, again, found):
        assert found == []  # o1 met in the listing

        driver = await stream_down(s, again)
        await cancelled_elsewhere(s, "o1")
        await stream_back(driver, again)
        found = await reconcile_broker(engine, again)  # as the session does then
        assert [(r.kind, r.client_order_id) for r in found] == [
            (ReconcileKind.LOCAL_ORDER_UNKNOWN, "o1")
        ]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.CANCELED)

        # The next reconnect's catch-up: nothing asked about o1 (its symbol's trades
        # were asked from a minute before the connect, every time).
        start = len(s.fake.requests)
        driver = await stream_down(s, again)
        await stream_back(driver, again)
        assert asked_since(s, start) == []

        # A cancel all (the kill switch's): nothing to cancel, nothing sent.
        start = len(s.fake.requests)
        assert await again.cancel_all(reason="kill switch") == []
        assert s.fake.requests[start:] == [("GET", "/api/v3/openOrders")]
        events = await s.events()
        assert statuses(events, "o1") == [S.PENDING_NEW, S.NEW, S.CANCELED]
        # Ended by the reconcile, its end not known here: the trader is told
        # (`order_gone`: a toast, a count in Health).
        assert engine.anomalies.counts == {AnomalyKind.ORDER_GONE: 1}


async def test_a_status_the_reconcile_takes_lets_the_catch_up_settle_the_order() -> None:
    """The desk stopped while o1's cancel had no answer (REST out): the journal holds
    it PENDING_CANCEL, Binance NEW. After the restart the reconcile takes Binance's NEW.
    The adapter then knows what the journal holds of o1: Binance cancels it while the
    user stream is down, and the reconnect's catch-up asks Binance and publishes its
    end; the reconcile after it finds the journal right. Before, the adapter knew no
    status of o1, so its catch-up left it alone and the reconcile found it gone."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)
        s.fake.stop_answering_rest()
        with pytest.raises(BrokerError):
            await s.broker.cancel("o1")
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.PENDING_CANCEL)
        await s.broker.close()
        s.fake.answer_rest()

        again = build_broker(s.fake, s.bus, ["ETHUSDT"])
        engine.brokers["binance"] = again
        try:
            await again.connect()
            await engine.load_instruments()
            found = await reconcile_broker(engine, again)
            assert [(r.kind, r.client_order_id) for r in found] == [
                (ReconcileKind.STATUS_MISMATCH, "o1")
            ]
            await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)

            driver = await stream_down(s, again)
            await cancelled_elsewhere(s, "o1")
            await stream_back(driver, again)
            events = await s.events()
            [*_, last] = [
                e.payload
                for e in events
                if isinstance(e, OrderUpdateEvent) and e.payload.client_order_id == "o1"
            ]
            assert (last.status, last.reason) == (S.CANCELED, "reported after reconnect")
            assert await reconcile_broker(engine, again) == []
            await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.CANCELED)
            assert not engine.anomalies.total
        finally:
            await again.close()


async def test_terms_the_reconcile_takes_are_the_ones_a_modify_keeps() -> None:
    """Another program moves o1 to 1,985 (a cancelReplace under the same client order
    id: a new Binance order) while the user stream is down. The reconnect's catch-up
    lists it under its new Binance id, and the reconcile takes Binance's price. A modify
    of the quantity then keeps 1,985, and the replaced Binance order's CANCELED is no
    end of o1. Before, the adapter kept 1,990 and the old Binance id: the modify sent
    1,990 (the order moved back without being asked) and the CANCELED of the order it
    replaced was journaled after the replacement's NEW."""
    async with binance_session(balances={"USDT": "100000"}) as s:
        await s.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        engine = TradingEngine(s.bus, [s.broker], RiskConfig())
        await engine.load_instruments()
        await s.broker.place(o1())
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.status is S.NEW)

        driver = await stream_down(s, s.broker)
        async with binance_client(s.fake) as other:
            await other.cancel_replace_order(
                symbol="ETHUSDT",
                side="BUY",
                type="LIMIT",
                timeInForce="GTC",
                quantity="1.0",
                price="1985",
                cancelReplaceMode="STOP_ON_FAILURE",
                cancelOrigClientOrderId="o1",
                newClientOrderId="o1",
            )
        s.fake.exchange.take_user_events()  # its reports never reach the desk
        await stream_back(driver, s.broker)
        found = await reconcile_broker(engine, s.broker)
        assert [(r.kind, r.client_order_id) for r in found] == [
            (ReconcileKind.TERMS_MISMATCH, "o1")
        ]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.limit_price == D("1985"))

        await s.broker.modify("o1", quantity=D("0.8"))
        [*_, venue] = [o for o in s.fake.orders.values() if o.client_order_id == "o1"]
        assert (venue.status, venue.orig_qty, venue.price) == ("NEW", D("0.8"), D("1985"))
        await s.driver.settle()
        await asyncio.sleep(0.3)  # (the replaced order's CANCELED report, if it goes)
        events = await s.events()
        assert statuses(events, "o1")[-2:] == [S.PENDING_REPLACE, S.NEW]
        await journaled(s, engine, lambda: engine.oms.orders["o1"].order.quantity == D("0.8"))
        order = engine.oms.orders["o1"].order
        assert (order.status, order.limit_price) == (S.NEW, D("1985"))
        assert not engine.anomalies.total


# -- 2. a recovery that gives up is counted ---------------------------------------------


@pytest.fixture
async def s() -> AsyncIterator[Session]:
    async with binance_session(balances={"USDT": "10000", "ETH": "2"}) as session:
        await session.fake.set_book("ETHUSDT", [("1980", "5")], [("2001", "5")])
        yield session


async def test_a_recovery_binance_never_answers_is_counted_in_the_health(s: Session) -> None:
    """A TRADE report the adapter cannot read; every query of its order fails, so the
    recovery gives up after its tries: its fill and status are not in the journal.
    That is counted and shown in the health pane, not only logged."""
    s.broker.recover_pause_s = (0.01, 0.02)  # (its tries, without their minutes)
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    s.fake.fail_next_requests(10_000, path="/api/v3/order", after_processing=False)
    s.fake.report_unknown_status("FILLED_NEW_SPELLING", reports=1)
    await s.fake.fill(order_id, D("0.5"))

    errors = s.broker.health_state.errors
    await until(lambda: errors["bad_report_unresolved"] > 0, 5.0, "the recovery to give up")
    assert s.fake.requests.count(("GET", "/api/v3/order")) >= s.broker.recover_tries
    assert (errors["bad_report"], errors["bad_report_unresolved"]) == (1, 1)
    shown = errors_text(await health_metrics(s))
    assert "bad_report 1" in shown, shown
    assert "bad_report_unresolved 1" in shown, shown
    s.fake.fail_next_requests(0)


async def test_a_recovery_whose_query_answer_is_unreadable_too_is_counted(
    s: Session,
) -> None:
    """Binance's answer to the recovery's query cannot be read either (the same new
    status value): the fill still goes (myTrades), the status does not; counted."""
    coid = await s.broker.place(req(s, limit_price=D("1990")))
    await wait_for(s, ended(coid, S.NEW), "NEW")
    order_id = s.fake.order_by_client_id(coid).order_id
    s.fake.report_unknown_status("FILLED_NEW_SPELLING", reports=1, queries=1)
    await s.fake.fill(order_id, D("0.5"))

    events = await wait_for(s, lambda e: bool(fills(e, coid)), "the fill, from myTrades")
    errors = s.broker.health_state.errors
    await until(lambda: errors["bad_report_unresolved"] > 0, 5.0, "the recovery to give up")
    assert [f.quantity for f in fills(events, coid)] == [D("0.5")]
    once_each(await s.events(), coid)
    assert (errors["bad_report"], errors["bad_report_unresolved"]) == (1, 1)
    assert "bad_report_unresolved 1" in errors_text(await health_metrics(s))
