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

from silvertine_tui.domain import OrderStatus
from silvertine_tui.engine.recovery import END_NOT_LISTED
from silvertine_tui.events import ReconcileKind
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
