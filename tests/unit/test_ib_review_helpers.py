"""The IB adapter's helpers for the review's fixes: a price on the tick's places (its
value as it is) and the average of an order's fills (only when they make up the
order)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from silvertine_tui.brokers.ib import fees
from silvertine_tui.brokers.ib.fees import CommissionBook
from silvertine_tui.brokers.ib.translate import average_of, on_tick_places
from silvertine_tui.domain import Fill, FillCorrection, Instrument, Side
from silvertine_tui.domain.money import decimal_places
from silvertine_tui.events.summary import price_text

TICKS = (Decimal("0.01"), Decimal("0.25"), Decimal("0.00005"), Decimal(1), Decimal("0.5"))


def instrument(tick: Decimal) -> Instrument:
    return Instrument(
        symbol="AAPL",
        venue="SMART",
        base_currency="AAPL",
        quote_currency="USD",
        tick_size=tick,
        lot_size=Decimal(1),
    )


@given(
    st.decimals(min_value=Decimal("0.00001"), max_value=Decimal(10**9), places=6),
    st.sampled_from(TICKS),
)
@example(Decimal("147.7"), Decimal("0.01"))
@example(Decimal("6000.5"), Decimal("0.25"))
@example(Decimal("149.4951"), Decimal("0.01"))
@example(Decimal("0.000010"), Decimal("0.01"))
def test_a_price_goes_on_the_tick_s_places_and_keeps_its_value(
    price: Decimal, tick: Decimal
) -> None:
    inst = instrument(tick)
    placed = on_tick_places(price, inst)
    assert placed == price
    assert placed is not None
    exponent = placed.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -exponent >= inst.tick_places
    if decimal_places(price) < inst.tick_places:  # as IB's float reads: 147.7
        assert -exponent == inst.tick_places
    else:  # finer than the tick, or so written (0.000010): as it is
        assert placed.as_tuple() == price.as_tuple()
    assert price_text(placed, inst) == price_text(price, inst)


def test_no_instrument_or_no_price_leaves_it_as_it_is() -> None:
    assert on_tick_places(None, instrument(Decimal("0.01"))) is None
    assert str(on_tick_places(Decimal("147.7"), None)) == "147.7"
    assert str(on_tick_places(Decimal("147.7"), instrument(Decimal("0.01")))) == "147.70"


prices = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(100000), places=4)
quantities = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10000), places=4)


@given(st.lists(st.tuples(quantities, prices), min_size=1, max_size=12))
@example([(Decimal(20), Decimal("149.80")), (Decimal(30), Decimal("149.88"))])
def test_the_average_of_fills_that_make_up_the_order_is_their_weighted_mean(
    parts: list[tuple[Decimal, Decimal]],
) -> None:
    total = sum((q for q, _ in parts), Decimal(0))
    value = sum((q * p for q, p in parts), Decimal(0))
    avg = average_of(parts, total)
    assert avg == value / total
    low, high = min(p for _, p in parts), max(p for _, p in parts)
    assert avg is not None
    assert low <= avg <= high


@given(st.lists(st.tuples(quantities, prices), max_size=12), quantities)
def test_fills_that_do_not_make_up_the_order_give_no_average(
    parts: list[tuple[Decimal, Decimal]], more: Decimal
) -> None:
    """Never the average of part of an order (an execution not journaled as a fill)."""
    total = sum((q for q, _ in parts), Decimal(0))
    assert average_of(parts, total + more) is None
    assert average_of(parts, Decimal(0)) is None


def _fill(exec_id: str, coid: str, price: str = "10") -> Fill:
    return Fill(
        exec_id=exec_id, client_order_id=coid, broker="ib", account="DU1",
        instrument="AAPL.SMART", side=Side.BUY, quantity=Decimal(1), price=Decimal(price),
    )  # fmt: skip


def test_an_order_s_fills_are_its_latest_and_the_index_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`CommissionBook.fills_of`: each execution of the order as journaled last (a
    correction in place of its fill); an execution no longer kept is no longer the
    order's, and a forgotten order has none: what is looked up by order is never more
    than what the book keeps."""
    monkeypatch.setattr(fees, "LATEST_KEPT", 4)
    book = CommissionBook()
    book.journal(_fill("0000e1.01.01", "a", "149.80"))
    book.journal(_fill("0000e2.01.01", "a", "149.88"))
    first = _fill("0000e1.01.02", "a", "149.70")
    book.journal_correction(
        FillCorrection(
            replaces="0000e1.01.01", fill=first, previous_quantity=Decimal(1),
            previous_price=Decimal("149.80"),
        )
    )  # fmt: skip
    assert sorted(f.price for f in book.fills_of("a")) == [Decimal("149.70"), Decimal("149.88")]
    for n in range(3, 7):  # other orders' fills push "a"'s out of what is kept
        book.journal(_fill(f"0000e{n}.01.01", f"o{n}"))
    assert book.fills_of("a") == []
    assert sum(len(heads) for heads in book._by_order.values()) <= 4
    book.forget_order("o6")
    assert book.fills_of("o6") == []
