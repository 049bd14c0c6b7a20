"""Two desks with copies of one config (the same client ids, each its own journal: a
different `--prefix`) at one TWS: the second finds client id 1 in use and works on its
fallback, 2, and adopts the first desk's orders on reconcile. A change of one of those
is refused (IB lets only client id 1 change it), and the words say what the desk
knows: the order is under one of its client ids, but its journal did not place it, so
another desk or program on that id may have (it was alive here). They said "placed by
this desk under client id 1 ... often by this desk's own dropped connection"; an
order the desk's own journal placed is still said to be its own.

The real ib_async client of both desks against the fake TWS; the second desk's engine
adopts on reconcile as on a desk.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from silvertine_tui.brokers import OrderRejected
from tests.fakes.tws import FakeTws
from tests.fakes.tws import messages as m
from tests.support.ib import desk

from .test_ib_cancel_everything import engine_for


def assert_true_of_another_desk(said: str) -> None:
    assert "placed by this desk" not in said, said
    # Who holds client id 1 at TWS the desk cannot tell (the other desk, alive)
    assert "often by this desk's own dropped connection" not in said, said
    assert "or by another desk or program connected with it" in said, said
    assert "under client id 1" in said, said
    assert "another desk or program" in said, said
    assert "on client id 2" in said, said
    assert "kill switch" in said, said  # what reaches it now


async def test_an_order_of_another_desk_on_the_same_client_id_is_not_called_ours() -> None:
    async with (
        FakeTws() as fake,
        desk(fake, client_id_fallbacks=[2]) as first,
        desk(fake, client_id_fallbacks=[2]) as second,
    ):
        theirs = await first.broker.place(first.request(limit="149.00"))
        assert (first.broker.client_id, second.broker.client_id) == (1, 2)
        engine = await engine_for(second)
        view = engine.oms.get(theirs)
        assert view is not None  # adopted on reconcile, by its orderRef
        with pytest.raises(OrderRejected) as refused:
            await second.broker.cancel(theirs)
        assert_true_of_another_desk(str(refused.value))
        with pytest.raises(OrderRejected) as refused:
            await second.broker.modify(theirs, limit_price=Decimal("148.50"))
        assert_true_of_another_desk(str(refused.value))
        assert fake.requests_of(m.CANCEL_ORDER) == []
        assert all(order.working for order in fake.orders)


async def test_the_desk_s_own_order_under_its_other_client_id_is_still_its_own() -> None:
    async with FakeTws() as fake, desk(fake, client_id_fallbacks=[2]) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        fake.reserve_client_id(1)  # the dropped socket's id, not yet let go by TWS
        await fake.drop_connections()
        await d.wait(lambda: d.broker.client_id == 2 and d.broker._up, "on client id 2")
        await d.wait_live()
        with pytest.raises(OrderRejected) as refused:
            await d.broker.cancel(coid)
        said = str(refused.value)
        assert "placed by this desk under client id 1" in said, said
        # Who holds client id 1 at TWS the desk cannot tell: both are said.
        assert "this desk's own dropped connection" in said, said
        assert "another desk or program" in said, said
