"""A fill waits for its commission report (up to `commission_wait_s`) inside the one
queue that runs TWS's reports in order, but only until TWS sends anything else: then
the report is late, the fill is journaled without its fee (a fee correction follows),
and TWS's answers to other orders do not wait behind it. With the defaults
(commission_wait_s 2, order_timeout_s 5) an order that filled in three pieces whose
reports were late made the next order, acknowledged by TWS at once, "no answer"."""

from __future__ import annotations

import time

from silvertine_tui.domain import OrderType, Side, TimeInForce
from silvertine_tui.events import FeeCorrectionEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills


async def test_late_commissions_of_one_order_do_not_hold_up_the_next_order() -> None:
    async with FakeTws() as fake, desk(fake, commission_wait_s=2, order_timeout_s=5) as d:
        await fake.set_quote(
            "AAPL", "150.00", "150.05", ask_size="1",
            deeper_asks=[("150.06", "1"), ("150.07", "1")],
        )  # fmt: skip
        fake.hold_next_commissions(3)  # IB sends these commission reports late
        market = d.request(Side.BUY, "3", kind=OrderType.MARKET, limit=None,
                           tif=TimeInForce.DAY)  # fmt: skip
        first = await d.broker.place(market)  # fills in three pieces at once
        started = time.monotonic()
        await d.broker.place(d.request(Side.BUY, "1", limit="149.00"))
        assert time.monotonic() - started < 1.0
        await d.broker.settle()
        pieces = fills(await d.events(), first)
        assert len(pieces) == 3
        assert all(f.fee == 0 for f in pieces)  # journaled before their reports came
        await fake.release_commissions()
        events = await d.wait_journal(
            lambda ev: sum(isinstance(e, FeeCorrectionEvent) for e in ev) == 3, "three fees"
        )
        corrected = {e.payload.exec_id for e in events if isinstance(e, FeeCorrectionEvent)}
        assert corrected == {f.exec_id for f in pieces}
