"""One average price on the desk: the average of the fill prices of the open quantity,
commissions apart (they are fees, in realized P&L), as the portfolio keeps it for every
broker (paper's account keeps its average the same way). IB's position reports an
average cost with the commissions in; the IB adapter reports the desk's average, so the
position IB reports (the journal's POSITION lines, what a reconcile reads) never
differs from the Positions pane by the commission. A holding from before the journal
has only IB's average cost to go on: it opens at that cost, commissions in, and what is
traded in it after averages from there, in the adapter's report as on the desk.

IB's average cost is the fake TWS's (`exchange.py` books it as IB does: commissions
in, unchanged by a reduction, restarted at the trade price through zero); the desk's is
the real `Portfolio` fed the same fills; the adapter's is its real translation of
ib_async's `Position`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ib_async import Contract
from ib_async import Position as IbPosition

from silvertine_tui.brokers.ib.translate import average_price, position_of
from silvertine_tui.domain import Fill, OrderStatus, Position, Side
from silvertine_tui.engine import Session
from silvertine_tui.engine.portfolio import Portfolio
from silvertine_tui.events import PositionEvent, ReconcileEvent
from silvertine_tui.events.payloads import Reconcile, ReconcileKind
from tests.fakes.tws import FakeTws
from tests.fakes.tws.contracts import FUTURE, STOCK, ContractSpec
from tests.fakes.tws.exchange import Exchange, Ticket
from tests.fakes.tws.exchange import Position as TwsPosition
from tests.support.ib import desk, fills

from .test_ib_cancel_everything import engine_for, place_elsewhere, sync
from .test_ib_position_settle import AAPL, ACCOUNT, filled, ib_desk, journal, market, wait_for

KEY = "X"
S_FILLED = OrderStatus.FILLED


@dataclass(frozen=True)
class Trade:
    buy: bool
    qty: D
    price: D
    commission: D  # negative: a rebate


trades = st.builds(
    Trade,
    buy=st.booleans(),
    qty=st.integers(1, 500).map(D),
    price=st.integers(100, 1_000_000).map(lambda cents: D(cents) / 100),
    commission=st.one_of(st.just(D(0)), st.integers(-50, 2_000).map(lambda c: D(c) / 100)),
)


def ib_average(spec: ContractSpec, held: TwsPosition, executions: list[tuple[D, D]]) -> D | None:
    """The adapter's average for what the fake TWS holds, from ib_async's Position as
    TWS sends it (floats on the wire)."""
    contract = Contract(conId=spec.con_id, currency=spec.currency, multiplier=spec.multiplier)
    ib_position = IbPosition(ACCOUNT, contract, float(held.quantity), float(held.avg_cost))
    reported = position_of(
        ib_position, key=KEY, broker="ib", instrument=None, executions=executions
    )
    return reported.avg_price


def close_enough(ours: D | None, theirs: D | None) -> bool:
    """Equal but for the float IB's average cost travels as."""
    if ours is None or theirs is None:
        return ours is theirs
    return abs(ours - theirs) <= abs(theirs) * D("1e-12")


@settings(max_examples=300, deadline=None)
@given(
    spec=st.sampled_from([STOCK, FUTURE]),
    opening=st.one_of(
        st.none(),
        st.tuples(
            st.integers(-300, 300).filter(bool).map(D),
            st.integers(100, 1_000_000).map(lambda cents: D(cents) / 100),
        ),
    ),
    sequence=st.lists(trades, min_size=1, max_size=12),
)
def test_the_adapter_reports_the_desks_average_for_any_trades(
    spec: ContractSpec, opening: tuple[D, D] | None, sequence: list[Trade]
) -> None:
    """Whatever is traded (opening, adding, reducing, closing, through zero; with
    commissions, none or rebates) from flat or from a holding taken at IB's average
    cost, the adapter's average is the desk's, after every trade."""
    charged = iter(t.commission for t in sequence)
    exchange = Exchange([spec], ACCOUNT, {"USD": D(10**9)}, lambda *_: next(charged))
    portfolio = Portfolio(spot_brokers=())
    executions: list[tuple[D, D]] = []
    if opening is not None:
        quantity, cost = opening
        exchange.positions[spec.con_id] = TwsPosition(quantity, cost * spec.unit)
        avg = ib_average(spec, exchange.positions[spec.con_id], [])
        assert avg == cost  # nothing to take out: IB's cost
        venue = Position(
            broker="ib", account=ACCOUNT, instrument=KEY, quantity=quantity, avg_price=avg
        )
        portfolio.apply(PositionEvent.create("ib/" + ACCOUNT, venue))
        opened = Reconcile(kind=ReconcileKind.OPENING_POSITION, instrument=KEY,
                           venue_quantity=quantity)  # fmt: skip
        portfolio.apply(ReconcileEvent.create("ib/" + ACCOUNT, opened))
    for n, trade in enumerate(sequence):
        ticket = Ticket("BUY" if trade.buy else "SELL", trade.qty, "LMT", trade.price, None, "DAY")
        order = exchange.place(1, n + 1, spec, ticket)
        [execution] = [note.execution for note in exchange.execute(order, trade.qty, trade.price, 1)
                       if hasattr(note, "execution")]  # fmt: skip
        signed = trade.qty if trade.buy else -trade.qty
        executions.append((signed, execution.commission))
        portfolio.apply_fill(
            Fill(
                exec_id=execution.exec_id,
                client_order_id=f"o{n}",
                broker="ib",
                account=ACCOUNT,
                instrument=KEY,
                side=Side.BUY if trade.buy else Side.SELL,
                quantity=trade.qty,
                price=trade.price,
                fee=execution.commission,
                fee_currency="USD",
            )
        )
        state = portfolio.positions[("ib", ACCOUNT, KEY)]
        held = exchange.positions[spec.con_id]
        assert held.quantity == state.quantity
        assert close_enough(ib_average(spec, held, executions), state.avg_price), (
            held,
            state.avg_price,
        )


def test_an_average_without_commissions_keeps_ibs_cost_when_nothing_fits() -> None:
    """Executions that make no price of IB's cost (more commission than cost: they are
    not what the position holds) leave IB's average cost as it is."""
    assert average_price(D("1.5"), D(1), [(D(1), D(5))]) == D("1.5")
    assert average_price(D("160.06"), D(100), [(D(100), D(1))]) == D("160.05")
    assert average_price(D("6027.545"), D(2), [(D(2), D("4.50"))], D(50)) == D("6027.5")


async def last_position(session: Session) -> Position:
    [*_, reported] = [e.payload for e in await journal(session) if isinstance(e, PositionEvent)]
    assert isinstance(reported, Position)
    return reported


async def settled(session: Session) -> None:
    """Until the desk has applied everything TWS sent so far: the broker has journaled
    it, and the engine's reader has applied the journal's last entry (a fixed pause
    for the reader was a race on a loaded machine)."""
    await session.engine.brokers["ib"].settle()  # type: ignore[attr-defined]
    stream = session.bus.layout.exec("ib", ACCOUNT)
    [last] = await session.bus.read_last(stream, 1)
    await wait_for(lambda: session.engine.applied.get(stream) == last.id, "the reader")


async def test_the_position_ib_reports_after_a_fill_has_the_desks_average() -> None:
    """A first fill opens the position: TWS's position report (average cost 160.06,
    the 1 USD commission in) is journaled at 160.05, the fill's price, as the Positions
    pane shows it; adding and reducing keep the two equal, long and short."""
    async with FakeTws(cash={"USD": "1000000"}) as fake, ib_desk(fake) as session:
        portfolio = session.engine.portfolio
        steps = [
            (Side.BUY, "100", "160.05"),
            (Side.BUY, "50", "161.00"),
            (Side.SELL, "30", "161.00"),
            (Side.SELL, "220", "158.00"),  # through zero: short 100
            (Side.SELL, "100", "157.00"),
            (Side.BUY, "60", "157.50"),
        ]
        for side, qty, price in steps:
            await fake.set_quote("AAPL", price, price, bid_size="1000", ask_size="1000")
            coid = await session.engine.submit(market(AAPL, side, qty))
            await filled(session, coid)
            await settled(session)
            state = portfolio.positions[("ib", ACCOUNT, AAPL)]
            reported = await last_position(session)
            assert reported.quantity == state.quantity
            assert close_enough(reported.avg_price, state.avg_price), (reported, state)
            if (side, qty) == (Side.BUY, "50"):
                assert state.avg_price is not None
                assert close_enough(
                    fake.positions[STOCK.con_id].avg_cost, state.avg_price + D(2) / 150
                )  # IB's: both commissions in
        assert (state.quantity, state.avg_price) == (-140, D("157.5"))
        assert fake.positions[STOCK.con_id].avg_cost < D("157.5")  # a short's: lowered


async def test_a_holding_from_before_the_journal_and_a_fill_in_it_average_as_on_the_desk() -> None:
    """The opening position has IB's average cost (commissions in: all there is to go
    on); a fill in it adds its price, its commission a fee: IB's report after it says
    the same average as the desk."""
    async with FakeTws(cash={"USD": "1000000"}) as fake:
        fake.exchange.positions[STOCK.con_id] = TwsPosition(D(100), D("150.25"))
        await fake.set_quote("AAPL", "159.95", "160.05", ask_size="1000")
        async with ib_desk(fake) as session:
            portfolio = session.engine.portfolio
            opening = await last_position(session)
            assert (opening.quantity, opening.avg_price) == (100, D("150.25"))
            coid = await session.engine.submit(market(AAPL, Side.BUY, "100"))
            await filled(session, coid)
            await settled(session)
            state = portfolio.positions[("ib", ACCOUNT, AAPL)]
            assert state.avg_price == (D("150.25") + D("160.05")) / 2
            reported = await last_position(session)
            assert (reported.quantity, reported.avg_price) == (200, state.avg_price)
            assert fake.positions[STOCK.con_id].avg_cost == state.avg_price + D("0.005")


@pytest.mark.parametrize("before_the_journal", [True, False])
async def test_an_adopted_orders_earlier_fills_count_as_the_journal_holds_them(
    before_the_journal: bool,
) -> None:
    """An order another program placed sold 2 before the desk adopted it. From before
    the journal began, they are the opening position, at IB's cost (the commission in,
    no fee of the desk's); within it, the reconcile journals them as the desk's fills
    (the commission a fee). Either way its next fill is the desk's, and the position
    IB reports after it says the desk's average."""
    async with FakeTws(cash={"USD": "1000000"}) as fake:
        await place_elsewhere(fake, 9, "other-program", 152.0)  # SELL 5 @ 152
        [order] = fake.orders
        if before_the_journal:
            now = fake.exchange.clock
            fake.exchange.clock = lambda: now() - timedelta(minutes=5)
            await fake.fill(order.order_id, "2", client_id=9)
            fake.exchange.clock = now
        else:
            await fake.fill(order.order_id, "2", client_id=9)
        async with desk(fake, client_id=7, other_clients_poll_s=0.05) as d:
            engine = await engine_for(d)
            view = engine.oms.get("other-program")
            assert view is not None
            assert view.order.status is OrderStatus.PARTIALLY_FILLED
            state = engine.portfolio.positions[("ib", d.broker.account, "AAPL.SMART")]
            assert state.quantity == -2
            if before_the_journal:
                assert fills(await d.events()) == []
                assert state.avg_price == D("151.5")  # IB's: proceeds less the commission
                assert state.fees == {}
            else:
                assert state.avg_price == D("152")
                assert state.fees == {"USD": D(1)}
            await fake.fill(order.order_id, "3", price="151.00", client_id=9)
            deadline = asyncio.get_running_loop().time() + 4
            while (v := engine.oms.get("other-program")) and v.order.status is not S_FILLED:
                assert asyncio.get_running_loop().time() < deadline, "the adopted order's fill"
                await asyncio.sleep(0.02)
                await sync(engine, d.bus)
            await d.broker.settle()
            await sync(engine, d.bus)
            assert fills(await d.events())[-1].fee == 1
            opening = D("151.5") if before_the_journal else D("152")
            assert state.quantity == -5
            assert state.avg_price == (opening * 2 + D("151.00") * 3) / 5
            [reported] = await d.broker.positions()
            assert (reported.quantity, reported.avg_price) == (-5, state.avg_price)
            [*_, journaled] = [e.payload for e in await d.events() if isinstance(e, PositionEvent)]
            assert (journaled.quantity, journaled.avg_price) == (-5, state.avg_price)
