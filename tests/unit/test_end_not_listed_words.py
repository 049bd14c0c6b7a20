"""A working order the venue lists nowhere ends CANCELED on reconcile, and its words say
what is known of its fills (`recovery.end_not_listed`).

Before, every such order read "no fill of it is known", an order the journal held
PARTIALLY_FILLED 2/5 too (its reconcile's `ours` said so beside it): its 2 were known,
what came after them was not. Now it reads "no fill beyond the 2 journaled is known ...
with 2 of 5 filled". Run against the fake TWS with the real ib_async client and the
real engine: another client's order, adopted, part filled and journaled so; the rest
fills while the desk is down and TWS rolls over to a new trading day, after which it
lists neither the order nor its executions.
"""

from __future__ import annotations

import time

from silvertine_tui.domain import OrderStatus, TimeInForce
from silvertine_tui.domain.clock import DAY_NS
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.recovery import END_NOT_LISTED
from silvertine_tui.events import HealthEvent, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, new_bus, statuses, updates
from tests.unit.test_ib_adopted_end import reconciles
from tests.unit.test_ib_adopted_orders import order_id_of
from tests.unit.test_ib_cancel_everything import engine_for, place_elsewhere

S = OrderStatus
NEVER = 3600.0  # no poll of other client ids within a test


async def test_a_part_filled_order_the_venue_no_longer_lists_says_its_fills_are_known() -> None:
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, client_id=7):
            pass
        perm = await place_elsewhere(fake, 9, "other", 152.0)  # SELL 5
        await fake.fill(order_id_of(fake, perm), "2", client_id=9)
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            engine = await engine_for(d)  # adopted, its fill of 2 journaled
            view = engine.oms.get("other")
            assert view is not None
            assert (view.order.status, view.order.filled_qty) == (S.PARTIALLY_FILLED, 2)
        await fake.fill(order_id_of(fake, perm), client_id=9)  # the other 3
        await fake.new_trading_day()
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            engine = await engine_for(d)
            events = await d.events()
            [said] = reconciles(events, ReconcileKind.LOCAL_ORDER_UNKNOWN)
            assert said.ours == "PARTIALLY_FILLED 2/5"
            assert said.venue == "not open, its end not listed"
            [end] = [u for u in updates(events, "other") if u.status is S.CANCELED]
            for words in (said.detail, end.reason):
                assert "no fill of it is known" not in words
                assert "no fill beyond the 2 journaled is known" in words
                assert "with 2 of 5 filled" in words
                assert "check it at the venue" in words
            view = engine.oms.get("other")
            assert view is not None
            assert (view.order.status, view.order.filled_qty) == (S.CANCELED, 2)
            assert statuses(events, "other")[-1] is S.CANCELED
        await bus.close()


async def test_an_order_with_no_fill_the_venue_no_longer_lists_keeps_its_words() -> None:
    """Nothing filled here: the words stay as they were (`END_NOT_LISTED`)."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, client_id=7):
            pass
        perm = await place_elsewhere(fake, 9, "other", 152.0)
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            await engine_for(d)
        await fake.fill(order_id_of(fake, perm), client_id=9)
        await fake.new_trading_day()
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            await engine_for(d)
            events = await d.events()
            [said] = reconciles(events, ReconcileKind.LOCAL_ORDER_UNKNOWN)
            assert said.ours == "NEW 0/5"
            assert said.detail == END_NOT_LISTED
            [end] = [u for u in updates(events, "other") if u.status is S.CANCELED]
            assert end.reason == END_NOT_LISTED
        await bus.close()


async def test_working_orders_the_venue_no_longer_lists_are_an_anomaly_each() -> None:
    """Each working order so ended is the `order_gone` anomaly: a toast and a count in
    Health, naming the order and saying to check it at the venue. Before, only a RECON
    line and its CANCELED said it: the IB drill's two working orders left the Orders
    pane with no toast when TWS came back wiped."""
    async with FakeTws() as fake:
        bus = new_bus()
        await bus.start()
        async with desk(fake, bus, client_id=7):
            pass
        first = await place_elsewhere(fake, 9, "other", 152.0)
        second = await place_elsewhere(fake, 9, "another", 153.0)
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            engine = await engine_for(d)
            assert engine.anomalies.counts.get(AnomalyKind.ORDER_GONE) is None
        await fake.fill(order_id_of(fake, first), client_id=9)
        await fake.fill(order_id_of(fake, second), client_id=9)
        await fake.new_trading_day()
        async with desk(fake, bus, client_id=7, other_clients_poll_s=NEVER) as d:
            engine = await engine_for(d)
            assert engine.anomalies.counts[AnomalyKind.ORDER_GONE] == 2
            said = engine.anomalies.last
            assert said.startswith(f"ib/{fake.account}: order "), said
            assert "SELL 5 AAPL.SMART @ 15" in said, said
            assert said.endswith(
                "was working here; the venue lists it neither open nor ended: ended CANCELED "
                "here, as no fill beyond the journal's is known; check it at the venue (it "
                "may have filled)"
            ), said
            health = [
                e.event.payload
                for e in await bus.read(bus.layout.health)
                if isinstance(e.event, HealthEvent) and e.event.payload.component == "engine"
            ]
            assert health, "the anomaly was not published as the engine's health"
            # One toast for both, each order named (`publish_anomalies`).
            assert health[-1].metrics.get("last_kind") == "2 anomalies"
            assert health[-1].message.count(f"order_gone: ib/{fake.account}: order ") == 2
        await bus.close()


async def test_a_day_order_of_an_earlier_day_gone_overnight_is_no_alarm() -> None:
    """A DAY order that rested at the close while the desk was down: TWS on its new
    trading day lists neither it nor its expiry. It ends CANCELED with its words, but
    is no `order_gone` alarm (one every such morning taught the trader to ignore it:
    review rs); the same order gone on the day it was placed still is."""
    for next_day in (True, False):
        async with FakeTws() as fake:
            await fake.set_quote("AAPL", "150.00", "150.05")
            bus = new_bus()
            await bus.start()
            async with desk(fake, bus, client_id=7) as d:
                await engine_for(d)
                ours = await d.broker.place(d.request(qty="5", limit="146.00", tif=TimeInForce.DAY))
                await d.broker.settle()
                assert statuses(await d.events(), ours)[-1] is S.NEW
            await fake.new_trading_day()  # the DAY order expires; nothing of it filled
            async with desk(fake, bus, client_id=7) as d:
                if next_day:  # the desk started the next morning
                    d.broker.clock = lambda: time.time_ns() + DAY_NS
                engine = await engine_for(d)
                assert statuses(await d.events(), ours)[-1] is S.CANCELED
                gone = engine.anomalies.counts.get(AnomalyKind.ORDER_GONE)
                assert gone == (None if next_day else 1), (next_day, engine.anomalies.last)
            await bus.close()
