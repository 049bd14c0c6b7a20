"""A position is not judged while its fills are still coming, and a quantity taken from
the venue keeps a cost the venue reports.

A reviewer's IB buy of 20,000 EUR.USD filled in about 1,900 pieces. The venue's position
ran ahead of the fills the whole time: the engine's check reported "the venue reports
12956, our fills make 12757 (for 10 s: no fill on its way...)" while fills came every
few milliseconds, and a reconcile amid them took the venue's quantity, which already
held the fills on their way; those came after it, and the order that filled 19,689 left
a position of 19,719. The quantity taken grew the position, so its average was thrown
away: the desk's largest position, built from its own fills, showed no average and no
unrealized P&L.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Position
from silvertine_tui.engine.anomalies import AnomalyKind
from silvertine_tui.engine.portfolio import Portfolio
from silvertine_tui.engine.recovery import catch_up, reconcile_broker
from silvertine_tui.events import PositionEvent, ReconcileEvent, ReconcileKind
from tests.fakes.scripted_venue import INSTRUMENT
from tests.unit.test_engine_anomalies import fill, make, order

SRC = "scripted/main"
KEY = ("scripted", "main", INSTRUMENT.key)


def positional(found: Sequence[object]) -> list[ReconcileKind]:
    """The reconcile's findings about positions and fills (the scripted venue lists the
    order as it was placed: its status is another finding)."""
    return [
        r.kind  # type: ignore[attr-defined]
        for r in found
        if r.kind is not ReconcileKind.STATUS_MISMATCH  # type: ignore[attr-defined]
    ]


def venue_says(qty: str, avg: str | None = None) -> PositionEvent:
    return PositionEvent.create(
        SRC,
        Position(
            broker="scripted",
            account="main",
            instrument=INSTRUMENT.key,
            quantity=D(qty),
            avg_price=D(avg) if avg is not None else None,
        ),
    )


async def test_the_settle_time_runs_from_the_last_fill() -> None:
    """The venue reports the whole order's position after its first piece; the pieces
    keep coming for longer than the settle time: no mismatch while they come. Once they
    stop short of the venue's, it is reported."""
    bus, engine, _ = await make()
    engine.position_settle_ns = 300_000_000
    cid = await engine.submit(order("100"))
    await bus.publish(fill(cid, "x-0", "5"))
    await bus.publish(venue_says("100"))
    await catch_up(engine, SRC)
    for n in range(1, 9):  # 0.8 s of fills, one every 0.1 s
        await asyncio.sleep(0.1)
        await bus.publish(fill(cid, f"x-{n}", "5"))
        await catch_up(engine, SRC)
        engine.check_positions()
        assert engine.anomalies.total == 0, engine.anomalies.last
    await asyncio.sleep(0.35)
    engine.check_positions()
    assert engine.anomalies.counts[AnomalyKind.POSITION_MISMATCH] == 1
    assert "the venue reports a position of 100, our fills make 45" in str(engine.anomalies.last)


async def _journaled_fills(bus: object, engine: object, cid: str, pieces: int) -> None:
    for n in range(pieces):
        await bus.publish(fill(cid, f"x-{n}", "5"))  # type: ignore[attr-defined]
    await catch_up(engine, SRC)  # type: ignore[arg-type]


async def test_a_reconcile_amid_fills_takes_no_venue_quantity_holding_those_on_their_way() -> None:
    """Ten pieces journaled, three more executed at the venue and on their way (its
    position holds them, its list of fills not yet): the reconcile takes nothing; the
    three arrive and the position is the venue's, at its own average, with nothing
    said."""
    bus, engine, venue = await make()
    cid = await engine.submit(order("100"))
    await _journaled_fills(bus, engine, cid, 10)
    venue.venue_positions[INSTRUMENT.key] = D(65)

    found = await reconcile_broker(engine, venue)

    assert positional(found) == []
    assert engine.position(*KEY) == D(50)
    for n in range(10, 13):
        await bus.publish(fill(cid, f"x-{n}", "5"))
    await catch_up(engine, SRC)
    state = engine.portfolio.positions[KEY]
    assert state.quantity == D(65)
    assert state.avg_price == D("10.00")
    engine.check_positions(time.time_ns() + 10 * engine.position_settle_ns)
    assert await engine.adopt_settled() == 0
    await catch_up(engine, SRC)
    assert engine.anomalies.total == 0, engine.anomalies.last
    assert engine.position(*KEY) == D(65)


async def test_a_difference_standing_once_the_fills_stop_takes_the_venue_s_quantity_and_cost() -> (
    None
):
    """The same, but the three never come: once the fills stopped for the settle time,
    the venue's quantity is taken (as the reconcile would have), at the average the
    venue reported for it, and the mismatch is said once."""
    bus, engine, venue = await make()
    engine.position_settle_ns = 200_000_000
    cid = await engine.submit(order("100"))
    await _journaled_fills(bus, engine, cid, 10)
    await bus.publish(venue_says("65", avg="10.05"))
    venue.venue_positions[INSTRUMENT.key] = D(65)

    found = await reconcile_broker(engine, venue)
    assert positional(found) == []
    engine.check_positions()
    assert await engine.adopt_settled() == 0  # not yet
    await asyncio.sleep(0.25)
    engine.check_positions()
    assert await engine.adopt_settled() == 1
    await catch_up(engine, SRC)

    state = engine.portfolio.positions[KEY]
    assert state.quantity == D(65)
    assert state.avg_price == D("10.05")
    assert engine.anomalies.counts[AnomalyKind.POSITION_MISMATCH] == 1
    assert "we held 50, the venue holds 65" in str(engine.anomalies.last)
    recs = [
        e.event.payload
        for e in await bus.read(bus.layout.exec("scripted", "main"))
        if isinstance(e.event, ReconcileEvent)
    ]
    assert positional(recs) == [ReconcileKind.POSITION_MISMATCH]
    engine.check_positions(time.time_ns() + 10 * engine.position_settle_ns)
    assert await engine.adopt_settled() == 0  # once


async def test_a_grown_quantity_taken_at_once_takes_the_venue_s_average() -> None:
    """No fill coming: the reconcile takes the venue's quantity at once. It grew the
    position: the venue's average for it is taken (before: none, and the desk's
    average of its own fills was lost)."""
    bus, engine, venue = await make()
    cid = await engine.submit(order("100"))
    await _journaled_fills(bus, engine, cid, 10)
    engine.position_settle_ns = 0  # the fills are long settled
    await bus.publish(venue_says("65", avg="10.05"))
    venue.venue_positions[INSTRUMENT.key] = D(65)

    found = await reconcile_broker(engine, venue)

    assert positional(found) == [ReconcileKind.POSITION_MISMATCH]
    state = engine.portfolio.positions[KEY]
    assert (state.quantity, state.avg_price) == (D(65), D("10.05"))
    assert "no average" not in str(engine.anomalies.last)


async def test_a_cost_lost_is_said() -> None:
    """The venue reports no average for the quantity taken: the position has none, and
    the mismatch says so."""
    bus, engine, venue = await make()
    cid = await engine.submit(order("100"))
    await _journaled_fills(bus, engine, cid, 10)
    engine.position_settle_ns = 0
    venue.venue_positions[INSTRUMENT.key] = D(65)

    await reconcile_broker(engine, venue)

    assert engine.portfolio.positions[KEY].avg_price is None
    message = str(engine.anomalies.last)
    assert "we held 50, the venue holds 65" in message
    assert "no average nor unrealized P&L until it is flat again" in message


quantities = st.integers(-50, 50).map(D)
prices = st.integers(1, 10_000).map(lambda n: D(n) / 100)


@given(old=quantities, old_avg=prices, qty=quantities, venue_avg=st.none() | prices)
def test_a_quantity_taken_keeps_a_cost_whenever_one_is_known(
    old: D, old_avg: D, qty: D, venue_avg: D | None
) -> None:
    """Whatever quantity is taken over whatever position: flat has no average; the rest
    of a position reduced elsewhere keeps its own; one that grew or turned takes the
    venue's average for that quantity, and has none only when the venue reported none."""
    portfolio = Portfolio({INSTRUMENT.key: INSTRUMENT})
    state = portfolio._state(*KEY)
    state.quantity, state.avg_price = old, (old_avg if old else None)
    portfolio.venue_positions[KEY] = Position(
        broker=KEY[0], account=KEY[1], instrument=KEY[2], quantity=qty, avg_price=venue_avg
    )
    portfolio.adopt_venue_quantity(*KEY, qty)
    assert state.quantity == qty
    if qty == 0:
        assert state.avg_price is None
    elif old != 0 and (qty > 0) == (old > 0) and abs(qty) <= abs(old):
        assert state.avg_price == old_avg
    else:
        assert state.avg_price == venue_avg
