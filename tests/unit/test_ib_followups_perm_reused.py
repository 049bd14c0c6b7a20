"""A permId TWS gives again (a TWS whose state was wiped numbers its orders from its
first permId again; real IB never reuses one, so this is defensive) is not taken for
the finished order of ours that held it before, when TWS's orderRef names another
order of ours: the report is that order's (its acknowledgement, its fills), counted
(`perm_id_reused`) and logged; the finished order keeps its end.

Before, `IdentityMap.find` let the permId's old owner take every report: the new
order's acknowledgement was dropped as a stale status of the old one, its place went
unanswered and it was journaled REJECTED ("never reached the venue") while TWS worked
it, and a filled new order's fill never reached the position.

Runs the real ib_async client against two fake TWS processes in turn (the second a
fresh one: its permIds start again), the desk's journal kept across them.
"""

from __future__ import annotations

import logging

import pytest

from silvertine_tui.brokers.ib.identity import IdentityMap
from silvertine_tui.domain import OrderStatus, OrderType, TimeInForce
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills, new_bus, statuses

S = OrderStatus


async def test_a_perm_id_given_again_goes_to_the_order_tws_names_by_its_order_ref(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = new_bus()
    await bus.start()
    try:
        async with FakeTws() as before:
            await before.set_quote("AAPL", "150.00", "150.05", ask_size="100")
            async with desk(before, bus) as first:
                old_limit = await first.broker.place(first.request(qty="4", limit="148.00"))
                old_market = await first.broker.place(
                    first.request(qty="3", kind=OrderType.MARKET, limit=None, tif=TimeInForce.DAY)
                )
                await first.broker.cancel(old_limit)
                await first.broker.settle()
                old_perms = {o.ticket.order_ref: o.perm_id for o in before.orders}
                old_events = await first.events()
                assert statuses(old_events, old_limit)[-1] is S.CANCELED
                assert statuses(old_events, old_market)[-1] is S.FILLED
        caplog.set_level(logging.WARNING, logger="silvertine_tui.brokers.ib")
        async with FakeTws() as fresh, desk(fresh, bus) as d:
            # The fake numbers executions by permId and a count: wiped, it would give
            # the old fill's execId again too. Execution ids are left unique here (the
            # desk knows an execution by its id; this test is about permIds).
            fresh.exchange._exec_seq = 1000
            await fresh.set_quote("AAPL", "150.00", "150.05", ask_size="100")
            new_limit = await d.broker.place(d.request(qty="4", limit="148.00"))
            new_market = await d.broker.place(
                d.request(qty="3", kind=OrderType.MARKET, limit=None, tif=TimeInForce.DAY)
            )
            await d.broker.settle()
            by_ref = {o.ticket.order_ref: o for o in fresh.orders}
            # The fresh TWS gave the permIds of the old orders again.
            assert by_ref[new_limit].perm_id == old_perms[old_limit]
            assert by_ref[new_market].perm_id == old_perms[old_market]
            assert by_ref[new_limit].working
            assert by_ref[new_market].status == "Filled"
            events = await d.events()
            assert statuses(events, new_limit) == [S.PENDING_NEW, S.NEW]
            assert statuses(events, new_market)[-1] is S.FILLED
            assert S.REJECTED not in statuses(events, new_market)
            [fill] = fills(events, new_market)
            assert fill.quantity == 3
            # The finished orders keep their end: nothing more journaled of them.
            assert statuses(events, old_limit) == statuses(old_events, old_limit)
            assert statuses(events, old_market) == statuses(old_events, old_market)
            assert len(fills(events, old_market)) == len(fills(old_events, old_market))
            assert d.broker.knows_order(new_limit)
            [position] = await d.broker.positions()
            assert position.quantity == 3  # (the fresh TWS holds only the new fill)
            assert d.broker.health_state.errors.get("perm_id_reused", 0) >= 2
            said = [r for r in caplog.records if r.getMessage() == "ib.perm_id_reused"]
            assert {getattr(r, "client_order_id", None) for r in said} == {new_limit, new_market}
            assert {getattr(r, "was", None) for r in said} == {old_limit, old_market}
            # The new order is cancelled as itself, at TWS.
            await d.broker.cancel(new_limit)
            await d.broker.settle()
            assert by_ref[new_limit].status == "Cancelled"
            assert statuses(await d.events(), new_limit)[-1] is S.CANCELED
    finally:
        await bus.close()


def test_the_order_ref_of_a_placed_order_wins_over_a_finished_owner_of_the_perm_id() -> None:
    ids = IdentityMap()
    ids.add("old", "AAPL.SMART")
    ids.bind_order("old", 1, 5)
    ids.bind_perm("old", 77)
    ids.set_status("old", S.FILLED)
    ids.add("new", "AAPL.SMART")
    ids.bind_order("new", 1, 9)
    taken: list[tuple[str, str, int]] = []
    ids.on_perm_reused = lambda coid, was, perm: taken.append((coid, was, perm))
    assert ids.find(perm_id=77, client_id=1, order_id=9, order_ref="new") == "new"
    assert taken == [("new", "old", 77)]
    # The permId is the new order's from now on; the old one keeps its record.
    assert ids.find(perm_id=77, client_id=1, order_id=9, order_ref="new") == "new"
    assert ids.known(perm_id=77) == "new"
    assert taken == [("new", "old", 77)]
    assert ids.get("old") is not None
    # Forgetting the old order leaves the new one's permId alone.
    ids.forget("old")
    assert ids.known(perm_id=77) == "new"


def test_an_order_ref_of_another_program_or_an_adopted_owner_takes_nothing() -> None:
    """orderRef is free text at IB: it wins only against a permId owner this desk
    placed (whose own orderRef is its id), for an order of ours with no other permId."""
    ids = IdentityMap()
    ids.add("ours", "AAPL.SMART")
    ids.bind_perm("ours", 10)
    ids.set_status("ours", S.NEW)
    ids.add("bound", "AAPL.SMART")
    ids.bind_perm("bound", 11)
    # A report of permId 10 whose orderRef names an order of ours bound to another permId
    assert ids.find(perm_id=10, order_ref="bound") == "ours"
    # An adopted order (another program's, its orderRef its own) keeps its permId.
    ids.adopt("theirs", "AAPL.SMART", perm_id=12, client_id=9, order_id=3, status=S.NEW)
    ids.add("pending", "AAPL.SMART")
    assert ids.find(perm_id=12, client_id=9, order_id=3, order_ref="pending") == "theirs"
    assert ids.get("pending") is not None
    assert ids.get("pending").perm_id == 0  # type: ignore[union-attr]
    # An orderRef that is no order of ours, or none: the permId's owner.
    assert ids.find(perm_id=10, order_ref="someone-else") == "ours"
    assert ids.find(perm_id=10) == "ours"
