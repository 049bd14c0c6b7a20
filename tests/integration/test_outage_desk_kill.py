"""The driving desk's own kill switch with Redis down: everything is cancelled at the
venue and trading is HALTED here; what failed is the journaling. The toast's title
(`KillReport.headline`, what shows whole at 80 columns) says that, not "NOT everything
cancelled"."""

from __future__ import annotations

import pytest

from silvertine_tui.domain import OrderStatus, TradingState
from silvertine_tui.engine.cancels import CancelReport, KillReport
from tests.support.paper_session import paper_session, resting_buy
from tests.support.redis_bus import a_bus
from tests.support.redis_server import RedisServer
from tests.support.waiting import until

pytestmark = pytest.mark.redis


async def test_a_kill_with_redis_down_is_titled_by_its_journal_not_its_cancels(
    key_prefix: str,
) -> None:
    with RedisServer() as server:
        async with a_bus(server, key_prefix) as bus, paper_session(bus, ack_s=0.01) as session:
            cid = await session.engine.submit(resting_buy(session))

            def working() -> bool:
                view = session.engine.oms.get(cid)
                return view is not None and view.order.status is OrderStatus.NEW

            await until(working, what="the order working")
            await server.akill()
            await until(lambda: not bus.stats.connected, what="the bus down")
            session.engine.retry_delays = ()
            report = await session.engine.kill("drill")
            assert report.cancelled == (cid,)
            assert report.cancels.ok
            assert not report.ok
            assert report.headline() == "cancelled; KILL NOT JOURNALED"
            assert report.summary().startswith("Trading HALTED; cancelled 1 order(s).")
            assert "other desks do not see it until it is" in report.summary()
            # (a restart knows it now: the last-run record carries it)
            assert "should this desk stop first, its next start writes it" in report.summary()
            assert session.engine.gate.state is TradingState.HALTED


def test_the_headline_names_what_failed_first() -> None:
    still = CancelReport(still_working={"a": "NotConnected: down"})
    assert KillReport(CancelReport(cancelled=("a",))).headline() == ""
    assert KillReport(still).headline() == "NOT everything cancelled"
    assert (
        KillReport(still, "Redis is unreachable").headline()
        == "NOT everything cancelled; KILL NOT JOURNALED"
    )
    watched = KillReport(CancelReport(), "Redis is unreachable (x)", by_watcher=True)
    assert watched.headline() == "KILL NOT SENT"
    assert "it is not kept to be sent later" in watched.summary()
    maybe = KillReport(CancelReport(), "Redis is unreachable (x)", by_watcher=True, maybe_sent=True)
    assert maybe.headline() == "KILL NOT CONFIRMED"
    assert "Redis may still take it" in maybe.summary()
    assert KillReport(CancelReport(), by_watcher=True).headline() == ""
