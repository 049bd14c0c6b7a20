"""Every POSITION the IB adapter journals on a (re)connect says the desk's average (the
fill prices of the open quantity, commissions apart: what the Positions pane says),
never IB's raw average cost first.

ib_async asks TWS's positions while it connects, before it asks the day's executions:
the adapter journaled each position as TWS sent it then, with no execution to take
the commissions out of IB's average cost (`ExecutionLedger.average` returned it
unchanged), and the corrected one a moment later in the rebuild. Replay, watching
desks and the Log showed the average jump at every restart and reconnect.

Runs the real ib_async client against the fake TWS (which books IB's average cost,
commissions in); the journal is kept across the desk's restart.
"""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import ConnectionState, OrderType, Position, Side, TimeInForce
from silvertine_tui.events import EventBase, PositionEvent
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, fills, new_bus


def positions(events: list[EventBase]) -> list[Position]:
    return [e.payload for e in events if isinstance(e, PositionEvent)]


async def buy_at_market(d: Desk, qty: str) -> str:
    request = d.request(Side.BUY, qty, kind=OrderType.MARKET, limit=None, tif=TimeInForce.DAY)
    coid = await d.broker.place(request)
    await d.broker.settle()
    return coid


async def test_a_restart_journals_the_desks_average_not_ibs_cost_first() -> None:
    bus = new_bus()
    await bus.start()
    try:
        async with FakeTws() as fake:
            await fake.set_quote("AAPL", "150.00", "150.05", ask_size="100")
            async with desk(fake, bus) as first:
                coid = await buy_at_market(first, "16")
                [fill] = fills(await first.events(), coid)
                assert fill.fee > 0
                before = len(await first.events())
            [held] = fake.positions.values()
            # IB's average cost holds the commission: not the desk's average.
            assert held.avg_cost == Decimal("150.05") + fill.fee / 16
            async with desk(fake, bus) as again:
                await again.broker.settle()
                after = positions((await again.events())[before:])
                assert after, "no POSITION journaled at the restart"
                assert [p.avg_price for p in after] == [Decimal("150.05")] * len(after)
                assert all(p.quantity == 16 for p in after)
    finally:
        await bus.close()


async def test_a_reconnect_journals_the_desks_average_not_ibs_cost_first() -> None:
    async with FakeTws() as fake:
        await fake.set_quote("AAPL", "150.00", "150.05", ask_size="100")
        async with desk(fake) as d:
            await buy_at_market(d, "7")
            before = len(await d.events())
            await fake.drop_connections()
            await d.wait(lambda: d.broker.state is ConnectionState.DISCONNECTED, "DISCONNECTED")
            await d.wait_live()
            await d.broker.settle()
            after = positions((await d.events())[before:])
            assert after, "no POSITION journaled at the reconnect"
            assert [p.avg_price for p in after] == [Decimal("150.05")] * len(after)
