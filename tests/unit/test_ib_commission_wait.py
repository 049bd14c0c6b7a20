"""A fill waits for its commission report (up to `commission_wait_s`) inside the one
queue that runs TWS's reports in order, but only until a report comes that may answer a
place, modify or cancel waiting for TWS: then the fill is journaled without its fee (a
fee correction follows), and the answer does not wait behind it. With the defaults
(commission_wait_s 2, order_timeout_s 5) an order that filled in three pieces whose
reports were late made the next order, acknowledged by TWS at once, "no answer"."""

from __future__ import annotations

import asyncio
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


async def test_a_late_commission_is_waited_for_while_quotes_stream_and_nothing_waits() -> None:
    """Quotes (and positions, balances) do not end the wait: only a report that may
    answer a place, modify or cancel waiting for TWS does. With quotes streaming and no
    request waiting, a report within `commission_wait_s` is the fill's fee, no
    correction after it."""
    async with FakeTws() as fake, desk(fake, commission_wait_s=2) as d:
        coid = await d.broker.place(d.request(Side.BUY, "1", limit="150.00"))
        [order] = fake.orders
        fake.hold_next_commissions()
        await fake.fill(order.order_id)
        for tick in range(5):  # the quote moves while the report is late
            await fake.set_quote("AAPL", f"150.0{tick}", f"150.1{tick}")
            await asyncio.sleep(0.05)
        await fake.release_commissions()
        await d.wait_journal(lambda ev: bool(fills(ev, coid)), "the fill")
        await d.broker.settle()
        [fill] = fills(await d.events(), coid)
        assert fill.fee > 0
        assert not [e for e in await d.events() if isinstance(e, FeeCorrectionEvent)]
        assert d.broker.health_state.errors["fee_pending"] == 0


async def test_an_unset_commission_before_the_real_one_is_no_fee() -> None:
    """TWS first reports the commission as its unset double (not worked out yet), then
    the real one. The unset report made the fee known: the fill was journaled with fee
    0 and no currency, and the real report was never taken (only a first report
    answered), nothing counted. The fill now waits for the real one."""
    async with FakeTws() as fake, desk(fake, commission_wait_s=0.2) as d:
        coid = await d.broker.place(d.request(Side.BUY, "3", limit="150.00"))
        [order] = fake.orders
        fake.unset_commission_first()
        await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: bool(fills(ev, coid)), "the fill")
        await fake.release_commissions()  # the real report, later
        await asyncio.sleep(0.3)
        await d.broker.settle()
        [execution] = fake.executions
        events = await d.events()
        [fill] = fills(events, coid)
        fees = [e.payload for e in events if isinstance(e, FeeCorrectionEvent)]
        paid = [(fill.fee, fill.fee_currency)] + [(c.fee, c.fee_currency) for c in fees]
        assert paid[-1] == (execution.commission, execution.commission_currency), paid
        assert execution.commission > 0
