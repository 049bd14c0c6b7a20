"""The places of what the paper venue reports: averages and realized P&L.

An average of fills at prices that do not divide evenly (1 @ 100.01, 1 @ 100.02,
1 @ 100.04: 300.07 / 3) came out of an unrounded Decimal division with 28 significant
digits (100.0233333333333333333333333), and so did a realized P&L booked against it
(0.0266666666666666666666667); both went into the journal so, and a restart read them
back and went on from them. A venue reports an average at a bounded precision:

- an average price (an order's, a position's) is rounded half-even, once, to the
  tick's places plus `AVG_EXTRA_PLACES` (4): 100.023333 for a 0.01 tick; it has the
  tick's places at least and no trailing zeros beyond them (2,000.65, not 2,000.650000);
- a reduction is booked against the average reported (closed x (price - average)),
  exactly; a position closed flat realizes exactly what its sells brought in less what
  its buys cost: 300.15 - 300.07 = 0.08, not 0.080001;
- a restart reads the journal back into the same exact cost, so it books what the live
  venue would have.

The exact values these tests compare with are computed with `fractions.Fraction`, an
exact rational (the test's oracle only; the code under test is all Decimal).
"""

from __future__ import annotations

from decimal import Context
from decimal import Decimal as D
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers.paper import MarketBook, PaperBroker, PaperVenue
from silvertine_tui.bus import MemoryBus
from silvertine_tui.domain import (
    Instrument,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from silvertine_tui.domain.money import decimal_places
from silvertine_tui.events import FillEvent, OrderUpdateEvent, PositionEvent
from tests.unit.test_paper_restart import ETH, eth_book, paper_config

T0 = 1_767_625_200_000_000_000  # 2026-01-05 15:00 UTC
BUY, SELL = Side.BUY, Side.SELL
AVG_EXTRA_PLACES = 4
"""An average has the tick's places and this many more (docs/paper-simulator.md)."""

XYZ = Instrument(
    symbol="XYZUSDT",
    venue="PAPER",
    base_currency="XYZ",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.001"),
    min_qty=D("0.001"),
    min_notional=D("1"),
)


def market(coid: str, side: Side, qty: str, instrument: str = XYZ.key) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid,
        broker="paper",
        account="main",
        instrument=instrument,
        side=side,
        order_type=OrderType.MARKET,
        quantity=D(qty),
        tif=TimeInForce.IOC,
    )


def xyz_venue() -> PaperVenue:
    venue = PaperVenue([XYZ], cash={"USDT": D("100000")})
    # Three asks of 1 that do not average evenly.
    venue.set_book(
        MarketBook.of(
            XYZ.key, [("100.00", "5")], [("100.01", "1"), ("100.02", "1"), ("100.04", "1")]
        ),
        T0,
    )
    return venue


def half_even(value: Fraction, places: int) -> D:
    """`value` rounded half-even to `places` decimals, exactly."""
    scaled = value * 10**places
    whole = scaled.numerator // scaled.denominator
    rest = scaled - whole
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):
        whole += 1
    return D(whole).scaleb(-places, Context(prec=200))


# -- the example -------------------------------------------------------------------------


def test_the_average_of_three_fills_has_the_ticks_places_and_four_more() -> None:
    venue = xyz_venue()
    reports = venue.submit(market("b", BUY, "3"), T0 + 1)
    fills = [r.fill for r in reports if r.fill is not None]
    assert [f.avg_price for f in fills] == [D("100.01"), D("100.015"), D("100.023333")]
    last = reports[-1]
    assert last.status is OrderStatus.FILLED
    assert str(last.avg_price) == "100.023333"
    assert last.position is not None
    assert str(last.position.avg_price) == "100.023333"
    order = venue.order("b")
    assert order is not None
    assert str(order.avg_price) == "100.023333"

    venue.set_book(MarketBook.of(XYZ.key, [("100.05", "5")], [("100.06", "5")]), T0 + 2)
    [*_, sold] = venue.submit(market("s1", SELL, "1"), T0 + 3)
    assert sold.position is not None
    # Booked against the average reported: 1 x (100.05 - 100.023333).
    assert (sold.position.avg_price, sold.position.realized_pnl) == (
        D("100.023333"),
        D("0.026667"),
    )
    [*_, flat] = venue.submit(market("s2", SELL, "2"), T0 + 4)
    assert flat.position is not None
    # Flat: the sells brought in 300.15, the buys cost 300.07.
    assert (flat.position.quantity, flat.position.avg_price) == (D(0), None)
    assert flat.position.realized_pnl == D("0.08")


def test_an_average_on_the_tick_keeps_the_ticks_places() -> None:
    venue = xyz_venue()
    venue.set_book(
        MarketBook.of(XYZ.key, [("100.00", "5")], [("100.01", "1"), ("100.03", "1")]), T0
    )
    [*_, done] = venue.submit(market("b", BUY, "2"), T0 + 1)
    assert str(done.avg_price) == "100.02"
    assert done.position is not None
    assert str(done.position.avg_price) == "100.02"


# -- what the broker journals ----------------------------------------------------------------


async def journal_of(bus: MemoryBus) -> list[Any]:
    return [entry.event async for entry in bus.replay(bus.layout.exec("paper", "main"))]


async def three_levels_bought(bus: MemoryBus) -> PaperBroker:
    broker = PaperBroker(paper_config(), bus)
    await broker.connect()
    await broker.on_market_data(
        eth_book([("100.00", "5")], [("100.01", "1"), ("100.02", "1"), ("100.04", "1")])
    )
    await broker.place(market("b", BUY, "3", ETH))
    await broker.settle()
    await broker.on_market_data(eth_book([("100.05", "5")], [("100.06", "5")]))
    await broker.place(market("s1", SELL, "1", ETH))
    await broker.settle()
    return broker


def bounded(events: list[Any]) -> list[str]:
    """What the journal holds with more places than the rule allows (ETH: a 0.01 tick,
    a 0.0001 lot): an average at 2 + 4, a realized P&L at 4 + 2 + 4."""
    found = []
    for event in events:
        p = event.payload
        if (
            isinstance(event, OrderUpdateEvent)
            and p.avg_price is not None
            and decimal_places(p.avg_price) > 2 + AVG_EXTRA_PLACES
        ):
            found.append(f"order {p.client_order_id} avg {p.avg_price}")
        if isinstance(event, PositionEvent):
            if p.avg_price is not None and decimal_places(p.avg_price) > 2 + AVG_EXTRA_PLACES:
                found.append(f"position avg {p.avg_price}")
            if decimal_places(p.realized_pnl) > 4 + 2 + AVG_EXTRA_PLACES:
                found.append(f"position realized {p.realized_pnl}")
    return found


async def test_the_journal_holds_bounded_averages_and_the_exact_pnl_of_a_round_trip() -> None:
    bus = MemoryBus()
    await bus.start()
    broker = await three_levels_bought(bus)
    await broker.place(market("s2", SELL, "2", ETH))
    await broker.settle()
    events = await journal_of(bus)
    assert bounded(events) == []
    filled = [
        e.payload
        for e in events
        if isinstance(e, OrderUpdateEvent)
        and e.payload.client_order_id == "b"
        and e.payload.status is OrderStatus.FILLED
    ]
    assert {u.avg_price for u in filled} == {D("100.023333")}
    positions = [e.payload for e in events if isinstance(e, PositionEvent)]
    assert [p.realized_pnl for p in positions][-2:] == [D("0.026667"), D("0.08")]
    fills = [e.payload for e in events if isinstance(e, FillEvent)]
    flows = sum((f.quantity * f.price * (1 if f.side is SELL else -1) for f in fills), D(0))
    assert flows == D("0.08")
    await broker.close()
    await bus.close()


async def test_a_restart_books_what_the_live_venue_would_have() -> None:
    """The restart reads the position back from the journal: its exact cost (200.046667
    after the partial sale, not the average times the quantity, 200.046666), so closing
    it realizes the round trip's 0.08, as the live venue does."""
    bus = MemoryBus()
    await bus.start()
    live = await three_levels_bought(bus)
    await live.close()
    again = PaperBroker(paper_config(), bus)
    await again.connect()
    [held] = await again.positions()
    assert (held.quantity, held.avg_price, held.realized_pnl) == (
        D("2"),
        D("100.023333"),
        D("0.026667"),
    )
    await again.on_market_data(eth_book([("100.05", "5")], [("100.06", "5")]))
    await again.place(market("s2", SELL, "2", ETH))
    await again.settle()
    [*_, last] = [e.payload for e in await journal_of(bus) if isinstance(e, PositionEvent)]
    assert (last.quantity, last.realized_pnl) == (D(0), D("0.08"))
    await again.close()
    await bus.close()


async def test_a_journal_an_older_build_wrote_with_28_digits_is_reported_bounded() -> None:
    """Its position events carry the long averages: the restart reports them on the
    rule's places (and books on from there)."""
    bus = MemoryBus()
    await bus.start()
    live = await three_levels_bought(bus)
    await live.close()
    [*_, position] = [e for e in await journal_of(bus) if isinstance(e, PositionEvent)]
    older = position.payload.model_copy(
        update={
            "avg_price": D("100.0233333333333333333333333"),
            "realized_pnl": D("0.0266666666666666666666667"),
        }
    )
    await bus.publish(PositionEvent.create(position.source, older))
    again = PaperBroker(paper_config(), bus)
    await again.connect()
    [held] = await again.positions()
    assert (held.avg_price, held.realized_pnl) == (D("100.023333"), D("0.0266666667"))
    await again.close()
    await bus.close()


# -- the rule, for any fills ------------------------------------------------------------------


@st.composite
def instruments(draw: st.DrawFn) -> tuple[D, D, D]:
    """tick, lot, multiplier"""
    tick = draw(st.sampled_from((D("0.01"), D("0.5"), D("0.0001"), D("1"))))
    lot = draw(st.sampled_from((D("1"), D("0.001"), D("0.00001"))))
    multiplier = draw(st.sampled_from((D("1"), D("50"), D("0.1"))))
    return tick, lot, multiplier


FILLS = st.lists(
    st.tuples(st.sampled_from((BUY, SELL)), st.integers(1, 40), st.integers(-300, 300)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(grid=instruments(), fills=FILLS)
def test_for_any_fills_every_average_and_pnl_is_bounded_and_within_the_rounding(
    grid: tuple[D, D, D], fills: list[tuple[Side, int, int]]
) -> None:
    """For any fills of a position (buys and sells, through zero and back):

    - an average has at most the tick's places + 4, and the tick's at least;
    - a realized P&L has at most the lot's + the tick's + 4 + the multiplier's places;
    - while nothing was closed short of flat since the position opened, the average is
      the exact one rounded half-even (one rounding);
    - a reduction leaves the average as it was;
    - the realized P&L is the exact one (average cost, no rounding anywhere) within half
      a unit of the average's last place per unit closed short of flat since the
      position opened, times the multiplier; and exactly it whenever the position is
      flat: the sells' notionals less the buys'.
    """
    tick, lot, multiplier = grid
    inst = Instrument(
        symbol="ANYUSD",
        venue="PAPER",
        base_currency="ANY",
        quote_currency="USD",
        tick_size=tick,
        lot_size=lot,
        min_qty=lot,
        min_notional=D(0),
        multiplier=multiplier,
    )
    account = PaperVenue([inst], cash={"USD": D("1000000000")}).account
    places = decimal_places(tick) + AVG_EXTRA_PLACES
    half_unit = Fraction(1, 2 * 10**places)
    qty, cost = Fraction(0), Fraction(0)  # the exact position: signed quantity, |cost|
    realized = Fraction(0)  # exact
    flows = D(0)  # sells' notionals less buys', exact in Decimal
    closed_short_of_flat = Fraction(0)  # since the position opened
    for side, lots, ticks in fills:
        q = lots * lot
        price = (1000 + ticks) * tick
        before = account.position(inst.key, "USD")
        state = account.apply_fill(inst.key, "USD", side, q, price, D(0), multiplier)
        signed = Fraction(q) if side is BUY else -Fraction(q)
        flows += q * price * multiplier * (1 if side is SELL else -1)
        if qty == 0 or (qty > 0) == (signed > 0):
            cost += Fraction(q) * Fraction(price)
            qty += signed
        else:
            closed = min(abs(signed), abs(qty))
            direction = 1 if qty > 0 else -1
            average = cost / abs(qty)
            realized += closed * (Fraction(price) - average) * Fraction(multiplier) * direction
            if closed == abs(qty):
                closed_short_of_flat = Fraction(0)
            else:
                closed_short_of_flat += closed
            cost -= average * closed
            qty += signed
            if qty != 0 and closed < abs(signed):  # through zero: opens at this price
                cost = abs(qty) * Fraction(price)
        assert Fraction(state.quantity) == qty
        if qty == 0:
            assert state.avg_price is None
            assert state.realized_pnl == flows, "flat: exactly the round trips' P&L"
            assert Fraction(state.realized_pnl) == realized
        else:
            assert state.avg_price is not None
            assert decimal_places(tick) <= -state.avg_price.as_tuple().exponent  # type: ignore[operator]
            assert decimal_places(state.avg_price) <= places
            if closed_short_of_flat == 0:
                assert state.avg_price == half_even(cost / abs(qty), places)
            reduced = before.quantity != 0 and (before.quantity > 0) == (qty > 0)
            if reduced and abs(qty) < abs(Fraction(before.quantity)):
                assert state.avg_price == before.avg_price, "a reduction moved the average"
        bound = closed_short_of_flat * half_unit * Fraction(multiplier)
        assert abs(Fraction(state.realized_pnl) - realized) <= bound
        pnl_places = (
            decimal_places(lot) + decimal_places(tick) + AVG_EXTRA_PLACES
        ) + decimal_places(multiplier)
        assert decimal_places(state.realized_pnl) <= pnl_places, state.realized_pnl


@settings(max_examples=300, deadline=None)
@given(
    tick=st.sampled_from((D("0.01"), D("0.5"), D("0.0001"), D("1"))),
    fills=st.lists(st.tuples(st.integers(1, 999), st.integers(1, 10**6)), min_size=1, max_size=12),
)
def test_an_orders_average_is_its_exact_average_rounded_once(
    tick: D, fills: list[tuple[int, int]]
) -> None:
    """What each fill report of one order says its average is: the exact average of its
    fills so far (notional over quantity), rounded half-even once to the tick's places
    + 4; never a quotient first cut to 28 digits, then rounded again."""
    inst = Instrument(
        symbol="ANYUSD",
        venue="PAPER",
        base_currency="ANY",
        quote_currency="USD",
        tick_size=tick,
        lot_size=D("0.001"),
        min_qty=D("0.001"),
        min_notional=D(0),
    )
    venue = PaperVenue([inst], cash={"USD": D(10) ** 15})
    asks = [(str(ticks * tick), str(D(lots) / 1000)) for lots, ticks in fills]
    asks.sort(key=lambda level: D(level[0]))
    merged: dict[str, D] = {}
    for price, size in asks:
        merged[price] = merged.get(price, D(0)) + D(size)
    levels = [(p, str(s)) for p, s in merged.items()]
    venue.set_book(MarketBook.of(inst.key, [(str(tick), "1")], levels), T0)
    total = sum((s for s in merged.values()), D(0))
    reports = venue.submit(market("o", BUY, str(total), inst.key), T0 + 1)
    places = decimal_places(tick) + AVG_EXTRA_PLACES
    value, qty = Fraction(0), Fraction(0)
    for report in reports:
        if report.fill is None:
            continue
        value += Fraction(report.fill.quantity) * Fraction(report.fill.price)
        qty += Fraction(report.fill.quantity)
        exact = half_even(value / qty, places)
        assert report.fill.avg_price == exact
        assert report.avg_price == exact
        assert decimal_places(report.fill.avg_price) <= places
        assert report.fill.avg_price.as_tuple().exponent <= -decimal_places(tick)  # type: ignore[operator]


def test_a_tie_is_rounded_half_even() -> None:
    """0.001 @ 100.00 and 0.031 @ 100.03: exactly 100.0290625, a tie at the sixth
    place, to the even 100.029062 (not 100.029063)."""
    venue = xyz_venue()
    venue.set_book(
        MarketBook.of(XYZ.key, [("99.00", "5")], [("100.00", "0.001"), ("100.03", "1")]), T0
    )
    [*_, done] = venue.submit(market("b", BUY, "0.032"), T0 + 1)
    assert done.avg_price == D("100.029062")
