"""The IB desk against the fake TWS: an EUR.USD buy filled in many small pieces, the
socket dropped amid them (a reconnect: the adapter's catch-up, then the session's
reconcile), the pieces still coming. Each execution is journaled once, the position is
the venue's at the desk's own average, and nothing is reported: what a reviewer's desk
got wrong with 1,900 pieces (588 exec ids journaled twice, the venue's quantity taken
while fills were on their way, a position of 19,719 for 19,689 filled, with no cost)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal as D

from silvertine_tui.domain import OrderRequest, OrderStatus, OrderType, Side, TimeInForce
from silvertine_tui.events import FillEvent, ReconcileEvent, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.unit.test_ib_position_settle import ACCOUNT, EURUSD, ib_desk, journal, wait_for


async def test_a_burst_of_small_fills_across_a_reconnect() -> None:
    async with FakeTws(cash={"USD": "1000000"}) as fake, ib_desk(fake) as session:
        engine = session.engine
        coid = await engine.submit(
            OrderRequest(
                broker="ib",
                account=ACCOUNT,
                instrument=EURUSD,
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                quantity=D(1200),
                limit_price=D("1.08000"),
                tif=TimeInForce.GTC,
            )
        )
        await wait_for(lambda: len(fake.orders) == 1, "the order at TWS")
        [order] = fake.orders
        pieces = [(n % 7) + 1 for n in range(260)]
        pieces.append(1200 - sum(pieces))
        for n, qty in enumerate(pieces):
            if n == 60:
                await fake.drop_connections()
            await fake.fill(order.order_id, str(qty))

        def done() -> bool:
            view = engine.oms.get(coid)
            return view is not None and view.order.status is OrderStatus.FILLED

        await wait_for(done, "FILLED", timeout=20)
        await wait_for(
            lambda: engine.position("ib", ACCOUNT, EURUSD) >= 1200, "the position", timeout=10
        )
        await asyncio.sleep(0.3)  # whatever else was on its way

        events = await journal(session)
        made = Counter(e.payload.exec_id for e in events if isinstance(e, FillEvent))
        assert [x for x, n in made.items() if n > 1] == []
        assert set(made) == {e.exec_id for e in fake.executions}
        assert sum((e.payload.quantity for e in events if isinstance(e, FillEvent)), D(0)) == D(
            1200
        )
        missed = [
            e.payload
            for e in events
            if isinstance(e, ReconcileEvent)
            and e.payload.kind in (ReconcileKind.MISSED_FILL, ReconcileKind.POSITION_MISMATCH)
        ]
        assert missed == []
        venue = sum((p.quantity for p in fake.positions.values()), D(0))
        state = engine.portfolio.positions[("ib", ACCOUNT, EURUSD)]
        assert state.quantity == venue == D(1200)
        assert state.avg_price is not None
        engine.check_positions(time.time_ns() + 10 * engine.position_settle_ns)
        await asyncio.sleep(0)
        assert engine.anomalies.total == 0, engine.anomalies.last
