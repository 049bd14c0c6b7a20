"""After TWS's link to IB comes back (1102) the adapter catches up (executions, open and
completed orders) before it calls the `ib` link LIVE. A catch-up TWS does not answer in
time (busy right after its own reconnection) is asked again; meanwhile the link is
DEGRADED, so a cancel goes. It was dropped after one try: the link stayed RECONCILING
and even a cancel or the kill switch was refused until the socket itself dropped."""

from __future__ import annotations

from silvertine_tui.domain import ConnectionState, OrderStatus
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, statuses

L = ConnectionState
S = OrderStatus


async def test_a_catch_up_tws_does_not_answer_is_asked_again_and_cancels_go_meanwhile() -> None:
    async with FakeTws() as fake, desk(fake, request_timeout_s=0.3) as d:
        coid = await d.broker.place(d.request(limit="149.00"))
        [order] = fake.orders
        await fake.connectivity_lost()
        await d.wait(lambda: d.broker.health_state.links["ib"].state is L.DEGRADED, "1100")
        fake.ignore_next("executions", times=2)  # two catch-ups get no answer
        await fake.connectivity_restored()  # 1102: TWS is back on IB, data kept
        link = d.broker.health_state.links
        await d.wait(lambda: "catching up failed" in link["ib"].detail, "the failed catch-up")
        assert link["ib"].state is L.DEGRADED
        assert "asking again" in link["ib"].detail
        await d.broker.cancel(coid)  # goes while the catch-up is asked again
        assert not order.working
        await d.wait(lambda: d.broker.state is L.LIVE, "LIVE", timeout=5.0)
        assert link["ib"].state is L.LIVE
        assert d.broker.health_state.errors["catch_up"] == 2
        await d.broker.settle()
        assert statuses(await d.events(), coid)[-1] is S.CANCELED
