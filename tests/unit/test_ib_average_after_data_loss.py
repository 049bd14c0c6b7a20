"""One average for an IB position after restarts, a data loss and a trade made outside
the desk: the journal's POSITION lines (the desk's Log) say what the Positions pane
(the engine's portfolio) says.

A trader's review found the Log's `POSITION ... avg 148.837` beside the pane's
`148.755` for the same position. IB's average cost has the commissions in; the adapter
takes out those of the desk's own fills (`translate.average_price`), and judged which
fills were the desk's by its journal alone. A fill the journal lost to Redis (the
desk's snapshot still holds it: the pane counts its commission as a fee) kept its
commission in the adapter's average for good; another program's fill made while the
desk was down, journaled by the reconcile, had its commission in the POSITION line the
restart journaled before the reconcile, and nothing reported the position again. Every
execution a reconcile lists from the journal's start is in the desk's books once the
reconcile is done (the journal's, the snapshot's, or published as missed): its
commission is a fee, out of the average, and the position is reported again when that
moves its average. What came before the journal began stays IB's cost, commissions in,
on the pane as in the Log (the opening position).

The real ib_async client, the engine and its snapshots against the fake TWS; the data
loss is the journal stream losing its oldest entries (the snapshot stream kept).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal as D

import pytest

from silvertine_tui.bus import MemoryBus
from silvertine_tui.config import RiskConfig, RiskLimits, Settings
from silvertine_tui.domain import OrderRequest, OrderType, Position, Side, TimeInForce
from silvertine_tui.engine import Session
from silvertine_tui.engine.portfolio import PositionState
from silvertine_tui.events import FillEvent, PositionEvent
from tests.fakes.tws import FakeTws
from tests.fakes.tws.contracts import FUTURE, STOCK, ContractSpec
from tests.support.ib import ib_config, new_bus

from .test_ib_position_settle import ACCOUNT, filled, wait_for

KEYS = {STOCK.con_id: "AAPL.SMART", FUTURE.con_id: "ESZ6.CME"}


def settings(fake: FakeTws) -> Settings:
    return Settings(
        brokers=[ib_config(fake, symbols=["AAPL", "ESZ6.CME"])],
        risk=RiskConfig(defaults=RiskLimits(max_notional=None, price_collar_pct=None)),
    )


@contextlib.asynccontextmanager
async def running(fake: FakeTws, bus: MemoryBus) -> AsyncIterator[Session]:
    """A desk (engine, IB adapter) on `bus`: started (recovered, connected, reconciled),
    closed (its final snapshot written) on leaving."""
    session = Session(settings(fake), bus=bus)
    await session.start()
    try:
        yield session
    finally:
        await session.close()


def market(key: str, side: Side, qty: str) -> OrderRequest:
    return OrderRequest(
        broker="ib",
        account=ACCOUNT,
        instrument=key,
        side=side,
        order_type=OrderType.MARKET,
        quantity=D(qty),
        tif=TimeInForce.DAY,
    )


async def trade(session: Session, fake: FakeTws, spec: ContractSpec, qty: str, price: str) -> None:
    """The desk buys `qty` at `price` (the fake's quote there, deep enough)."""
    await fake.set_quote(spec.local_symbol, price, price, bid_size="1000", ask_size="1000")
    coid = await session.engine.submit(market(KEYS[spec.con_id], Side.BUY, qty))
    await filled(session, coid)


async def journal(session: Session) -> list[object]:
    stream = session.bus.layout.exec("ib", ACCOUNT)
    return [e.event for e in await session.bus.read(stream) if e.ok]


async def settled(session: Session) -> None:
    """Until the desk has applied everything TWS sent so far: the adapter has journaled
    it, and the engine's reader has applied the journal's last entry."""
    await session.engine.brokers["ib"].settle()  # type: ignore[attr-defined]
    stream = session.bus.layout.exec("ib", ACCOUNT)
    [last] = await session.bus.read_last(stream, 1)
    await wait_for(lambda: session.engine.applied.get(stream) == last.id, "the reader")


async def shown(session: Session, spec: ContractSpec) -> tuple[PositionState, Position]:
    """The Positions pane's position and the journal's last POSITION line of `spec`."""
    await settled(session)
    key = KEYS[spec.con_id]
    pane = session.engine.portfolio.positions[("ib", ACCOUNT, key)]
    reported = [
        e.payload
        for e in await journal(session)
        if isinstance(e, PositionEvent) and e.payload.instrument == key
    ]
    return pane, reported[-1]


def close_enough(ours: D | None, theirs: D | None) -> bool:
    """Equal but for the float IB's average cost travels as."""
    if ours is None or theirs is None:
        return ours is theirs
    return abs(ours - theirs) <= abs(theirs) * D("1e-12")


async def assert_one_average(
    session: Session, spec: ContractSpec, quantity: int, average: D
) -> None:
    pane, line = await shown(session, spec)
    assert (pane.quantity, pane.avg_price) == (quantity, average), pane
    assert line.quantity == quantity, line
    assert close_enough(line.avg_price, average), (line.avg_price, average)


async def lose_the_journal_through_its_last_fill(bus: MemoryBus) -> int:
    """Redis loses the oldest part of the account's journal, its last fill with it (the
    snapshot stream is kept). Returns how many entries were lost."""
    stream = bus.layout.exec("ib", ACCOUNT)
    entries = await bus.read(stream)
    [*_, last_fill] = [n for n, e in enumerate(entries) if isinstance(e.event, FillEvent)]
    kept = len(entries) - last_fill - 1
    return await bus.trim(stream, kept)


@pytest.mark.parametrize("spec", [STOCK, FUTURE], ids=["stock", "future"])
async def test_a_fill_the_journal_lost_keeps_its_commission_out_of_the_position(
    spec: ContractSpec,
) -> None:
    """The desk bought; Redis lost the journal's order and fill (the snapshot holds the
    fill, so the pane keeps the fill's price and its commission a fee). After the
    restart the Log's POSITION said IB's cost with that commission in (148.71 for
    148.70; a future's 2.25 over its multiplier), and went on saying it after the next
    fill, the two figures apart for good."""
    first, more = (D("148.70"), D("149.20")) if spec is STOCK else (D("6000.25"), D("6001.50"))
    async with FakeTws(cash={"USD": "100000000"}) as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with running(fake, bus) as before:
                await trade(before, fake, spec, "100", str(first))
                await assert_one_average(before, spec, 100, first)
            assert await lose_the_journal_through_its_last_fill(bus) > 0
            ib_cost = fake.positions[spec.con_id].avg_cost / spec.unit
            assert ib_cost > first  # IB's: the commission in
            async with running(fake, bus) as after:
                await assert_one_average(after, spec, 100, first)
                await trade(after, fake, spec, "30", str(more))
                await assert_one_average(after, spec, 130, (first * 100 + more * 30) / 130)
        finally:
            await bus.close()


async def test_an_outside_trade_while_the_desk_was_down_is_reported_at_its_average() -> None:
    """Another program bought 50 while the desk was down: the restart's reconcile
    journals it as a missed fill (its commission a fee). The restart had journaled the
    position at 148.8067 (that commission in) before the reconcile, and no POSITION
    line came after it: the Log said 148.8067, the pane 148.80."""
    async with FakeTws(cash={"USD": "1000000"}) as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with running(fake, bus) as before:
                await trade(before, fake, STOCK, "100", "148.70")
            await fake.execute_unheard("AAPL", "BUY", "50", "149.00")
            async with running(fake, bus) as after:
                await assert_one_average(after, STOCK, 150, D("148.8"))
        finally:
            await bus.close()


async def test_restarts_a_data_loss_and_a_trade_outside_the_desk_show_one_average() -> None:
    """The review's day: restarts, a trade outside the desk while it was down, a data
    loss, trades after each; after every step the Log's last POSITION is the pane's."""
    async with FakeTws(cash={"USD": "1000000"}) as fake:
        bus = new_bus()
        await bus.start()
        try:
            async with running(fake, bus) as desk:
                await trade(desk, fake, STOCK, "10", "148.70")
                await trade(desk, fake, STOCK, "2", "149.10")
            await fake.execute_unheard("AAPL", "BUY", "5", "148.90")
            async with running(fake, bus) as desk:
                average = (D("148.70") * 10 + D("149.10") * 2 + D("148.90") * 5) / 17
                await assert_one_average(desk, STOCK, 17, average)
                await trade(desk, fake, STOCK, "3", "148.60")
                average = (average * 17 + D("148.60") * 3) / 20
                await assert_one_average(desk, STOCK, 20, average)
            assert await lose_the_journal_through_its_last_fill(bus) > 0
            async with running(fake, bus) as desk:
                await assert_one_average(desk, STOCK, 20, average)
                await trade(desk, fake, STOCK, "4", "149.00")
                average = (average * 20 + D("149.00") * 4) / 24
                await assert_one_average(desk, STOCK, 24, average)
            async with running(fake, bus) as desk:
                await assert_one_average(desk, STOCK, 24, average)
                # The commissions are the pane's fees, every one of them (5 trades).
                pane, _ = await shown(desk, STOCK)
                assert pane.fees == {"USD": D(5)}
        finally:
            await bus.close()


async def test_a_trade_from_before_the_journal_stays_at_ibs_cost_everywhere() -> None:
    """What another program bought before the desk's journal began is the opening
    position, at IB's cost with its commission in (there is no fee of it on the desk):
    so in the Log as on the pane, before and after the desk trades in it."""
    async with FakeTws(cash={"USD": "1000000"}) as fake:
        now = fake.exchange.clock
        fake.exchange.clock = lambda: now() - timedelta(minutes=5)
        await fake.execute_unheard("AAPL", "BUY", "50", "149.00")
        fake.exchange.clock = now
        ib_cost = D("149.00") + D(1) / 50
        bus = new_bus()
        await bus.start()
        try:
            async with running(fake, bus) as desk:
                await wait_for(
                    lambda: desk.engine.portfolio.position("ib", ACCOUNT, "AAPL.SMART") == 50,
                    "the opening position",
                )
                await assert_one_average(desk, STOCK, 50, ib_cost)
                await trade(desk, fake, STOCK, "50", "148.00")
                await assert_one_average(desk, STOCK, 100, (ib_cost + D("148.00")) / 2)
            async with running(fake, bus) as desk:
                await assert_one_average(desk, STOCK, 100, (ib_cost + D("148.00")) / 2)
        finally:
            await bus.close()
