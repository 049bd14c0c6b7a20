"""IB: a position the desk journaled already is not journaled again when TWS reports it
(`IBBroker._publish_position`). IB corrects an execution's price: the adapter journals
the fill's correction and, the position's average moved, IB's position with it at once
(`_average_moved`); TWS's own position report follows with the same position. Both were
journaled, and the desk's Log (one line per event) read `POSITION AAPL.SMART 3 avg
149.4` twice, one under the other. Against the fake TWS with the real ib_async client."""

from __future__ import annotations

from decimal import Decimal

from silvertine_tui.domain import OrderStatus, Position
from silvertine_tui.events import EventBase, FillCorrectionEvent, PositionEvent, describe
from tests.fakes.tws import FakeTws
from tests.support.ib import Desk, desk, statuses

S = OrderStatus


def positions(events: list[EventBase]) -> list[Position]:
    return [e.payload for e in events if isinstance(e, PositionEvent)]


def ib_average(d: Desk) -> Decimal:
    """IB's average cost of the AAPL position as ib_async holds it now."""
    [held] = d.broker.ib.positions(d.broker.account)
    return Decimal(str(held.avgCost))


async def test_a_corrected_position_is_journaled_and_said_once() -> None:
    async with FakeTws() as fake, desk(fake) as d:
        coid = await d.broker.place(d.request(qty="3", limit="149.50"))
        [order] = fake.orders
        execution = await fake.fill(order.order_id)
        await d.wait_journal(lambda ev: S.FILLED in statuses(ev, coid), "FILLED")
        await d.wait_journal(
            lambda ev: any(p.quantity == 3 for p in positions(ev)), "the position of 3"
        )
        await d.broker.settle()
        before = len(await d.events())
        await fake.correct_execution(execution, price="149.40")
        await d.wait_journal(
            lambda ev: any(isinstance(e, FillCorrectionEvent) for e in ev), "the correction"
        )
        # TWS's position report of the correction reached ib_async (it follows the
        # correction's execDetails: IB's average cost, commission in, moved down), and
        # the adapter's jobs for it are done.
        await d.wait(lambda: ib_average(d) < Decimal("149.8"), "TWS's position report")
        await d.broker.settle()

        after = (await d.events())[before:]
        said = positions(after)
        assert [(p.quantity, p.avg_price) for p in said] == [(3, Decimal("149.4"))], said
        lines = [describe(e) for e in after]  # type: ignore[arg-type]
        assert len(lines) == len(set(lines)), lines
