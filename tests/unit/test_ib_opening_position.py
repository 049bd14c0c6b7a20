"""A position held at IB before this desk's journal: taken as the opening position,
with IB's average cost, so the Positions pane shows its average and unrealized P&L
(it showed `-` for both, even after trading in it)."""

from __future__ import annotations

from decimal import Decimal as D

from silvertine_tui.domain import Side
from silvertine_tui.events import ReconcileEvent
from silvertine_tui.events.payloads import ReconcileKind
from tests.fakes.tws import FakeTws
from tests.fakes.tws.exchange import Position

from .test_ib_position_settle import AAPL, ACCOUNT, filled, ib_desk, market, wait_for


async def test_a_holding_from_before_the_journal_opens_at_ibs_average_cost() -> None:
    async with FakeTws(cash={"USD": "1000000"}) as fake:
        spec = fake.exchange.spec("AAPL")
        fake.exchange.positions[spec.con_id] = Position(quantity=D(100), avg_cost=D("150.25"))
        await fake.set_quote("AAPL", "159.95", "160.05", ask_size="1000")
        async with ib_desk(fake) as session:
            portfolio = session.engine.portfolio
            await wait_for(lambda: portfolio.position("ib", ACCOUNT, AAPL) == 100, "the holding")
            journal = await session.bus.read(session.bus.layout.exec("ib", ACCOUNT))
            kinds = [e.event.payload.kind for e in journal if isinstance(e.event, ReconcileEvent)]
            assert kinds == [ReconcileKind.OPENING_POSITION]
            state = portfolio.positions[("ib", ACCOUNT, AAPL)]
            assert state.avg_price == D("150.25")
            await fake.set_quote("AAPL", "159.95", "160.05", ask_size="1000")  # ticks now
            await wait_for(lambda: portfolio.mark(AAPL) is not None, "a mark")
            mark = portfolio.mark(AAPL)
            assert mark is not None
            assert portfolio.unrealized(state) == (mark - D("150.25")) * 100
            # Trading in it goes on from that cost: 100 more at the ask average out.
            bought = await session.engine.submit(market(AAPL, Side.BUY, "100"))
            await filled(session, bought)
            assert state.quantity == 200
            assert state.avg_price == (D("150.25") + D("160.05")) / 2
