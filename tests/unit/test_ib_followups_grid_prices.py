"""Prices in what the desk says of an execution of an order it does not know are on the
instrument's tick grid, as the desk prints prices everywhere else (docs/ui.md
"Numbers": 149.40, not 149.4): the IB adapter's Log line ("BOT 7 at 149.40
AAPL.SMART") and the engine's anomaly ("fill ... BUY 7 AAPL.SMART @ 149.40 for order
ib-<permId>"). Both printed IB's float as it reads (149.4): the adapter looked the
instrument up by the order, which it does not know, and the engine printed the price
trimmed. A price between ticks keeps its own places (149.4951).

An order placed in TWS's own window fills (the fake TWS's `execute_unheard`); the real
ib_async client and the real engine.
"""

from __future__ import annotations

import pytest

from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.events import LogLevel
from tests.fakes.tws import FakeTws
from tests.support.ib import desk, fills
from tests.unit.test_ib_cancel_everything import engine_for, sync


@pytest.mark.parametrize(("price", "said"), [("149.4", "149.40"), ("149.4951", "149.4951")])
async def test_an_unknown_order_s_fill_is_said_at_the_instrument_s_places(
    price: str, said: str
) -> None:
    async with FakeTws() as fake, desk(fake) as d:
        engine = await engine_for(d)
        execution = await fake.execute_unheard("AAPL", "BUY", "7", price, order_id=999)
        coid = f"ib-{execution.order.perm_id}"
        await d.wait_journal(lambda ev: len(fills(ev, coid)) == 1, "the execution journaled")
        await d.broker.settle()
        [line] = [s for s in await d.said_in_log(LogLevel.WARNING) if execution.exec_id in s]
        assert f"(BOT 7 at {said} AAPL.SMART)" in line, line
        await sync(engine, d.bus)
        assert engine.anomalies.counts[AnomalyKind.UNKNOWN_ORDER] == 1
        anomaly = engine.anomalies.last
        assert f"BUY 7 AAPL.SMART @ {said} for order {coid}" in anomaly, anomaly
