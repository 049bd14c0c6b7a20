"""Price and quantity rounding never leave the tick or lot grid."""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, InvalidOperation, localcontext
from decimal import Decimal as D

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Instrument, quantize_to_step, split_key
from silvertine_tui.domain.money import CUT, exact_text, fmt, is_multiple, money_text, plain
from silvertine_tui.events.summary import avg_text, price_text, qty_text, trim
from silvertine_tui.ui.format import num, pct, signed

steps = st.sampled_from(
    [D("0.01"), D("0.00001"), D("0.5"), D("1"), D("5"), D("0.25"), D("0.0001"), D("25")]
)
values = st.decimals(min_value=D("0.000001"), max_value=D("10000000"), places=8)


def instrument(tick: D, lot: D) -> Instrument:
    return Instrument(symbol="X", venue="TEST", quote_currency="USD", tick_size=tick, lot_size=lot)


@settings(max_examples=500)
@given(values, steps, st.sampled_from(["nearest", "down", "up"]))
def test_rounding_lands_on_the_grid(value: D, step: D, mode: str) -> None:
    rounded = quantize_to_step(value, step, mode)  # type: ignore[arg-type]
    assert rounded % step == 0
    assert abs(rounded - value) <= step
    if mode == "down":
        assert rounded <= value
    if mode == "up":
        assert rounded >= value
    if mode == "nearest":
        assert abs(rounded - value) <= step / 2


@settings(max_examples=300)
@given(values, steps, steps)
def test_instrument_round_helpers_pass_their_own_checks(value: D, tick: D, lot: D) -> None:
    inst = instrument(tick, lot)
    price = inst.round_price(value)
    qty = inst.round_qty(value)
    if price > 0:
        assert inst.check_price(price, "limit_price") == []
    if qty > 0:
        assert inst.check_qty(qty) == []
    assert qty <= value  # quantities round down: never send more than asked


@given(values, steps)
def test_rounding_is_idempotent(value: D, step: D) -> None:
    once = quantize_to_step(value, step)
    assert quantize_to_step(once, step) == once


def test_exact_decimal_no_float_drift() -> None:
    assert quantize_to_step(D("0.3"), D("0.1")) == D("0.3")
    assert str(quantize_to_step(D("0.30000"), D("0.1"))) == "0.3"
    assert quantize_to_step(D("100.005"), D("0.01")) == D("100.00")  # half-even
    assert quantize_to_step(D("100.015"), D("0.01")) == D("100.02")


def test_instrument_keys() -> None:
    assert split_key("BTCUSDT.BINANCE") == ("BTCUSDT", "BINANCE")
    assert split_key("BRK.B.SMART") == ("BRK.B", "SMART")
    assert instrument(D("0.01"), D("1")).key == "X.TEST"


# Any size a trader can type (30 digits before the point) or a venue can report: the
# default decimal context has 28 digits, and a price of 10^27 on a 0.01 tick raised
# `InvalidOperation` in `is_multiple` and stopped the desk. Long coefficients too: a
# quotient rounded to 28 digits floored 0.999...9 to 1 and took 2.5000...1 for a tie.
any_size = st.one_of(
    st.decimals(min_value=D("-1E+40"), max_value=D("1E+40"), allow_nan=False, allow_infinity=False),
    st.builds(
        lambda whole, digits: D(f"{whole}.{digits}"),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.text(alphabet="0123456789", min_size=1, max_size=40),
    ),
)
WIDE = Context(prec=200)  # the test's own arithmetic, exact at these sizes


@settings(max_examples=500)
@given(any_size, steps, st.sampled_from(["nearest", "down", "up"]))
@example(D("9999999999999999999999.999999999"), D("1"), "down")
@example(D("0.99999999999999999999999999999"), D("1"), "down")
@example(D("2.50000000000000000000000000001"), D("1"), "nearest")
@example(D("-2.50000000000000000000000000001"), D("1"), "nearest")
@example(D("-0.99999999999999999999999999999"), D("1"), "up")
@example(D("1.000000000000000000000000000001"), D("0.25"), "up")
@example(D("100.014999999999999999999999999"), D("0.01"), "nearest")
@example(D("1E+27"), D("0.01"), "down")
def test_rounding_and_checks_hold_at_any_size(value: D, step: D, mode: str) -> None:
    rounded = quantize_to_step(value, step, mode)  # type: ignore[arg-type]
    multiple = is_multiple(rounded, step)
    between = is_multiple(WIDE.add(rounded, WIDE.divide(step, 2)), step)
    with localcontext(WIDE):
        assert rounded % step == 0
        off = rounded - value
        assert abs(off) <= (step / 2 if mode == "nearest" else step)
        if mode == "nearest" and abs(off) == step / 2:  # a tie goes to the even step
            assert (rounded / step) % 2 == 0
        assert off <= 0 if mode == "down" else off >= 0 if mode == "up" else True
        assert abs(off) < step
    assert not (rounded.is_zero() and rounded.is_signed())  # never -0
    assert multiple
    assert between is False


@settings(max_examples=500)
@given(any_size, steps, st.integers(min_value=0, max_value=10))
def test_every_text_of_a_number_is_its_value_rounded_at_any_size(
    value: D, tick: D, places: int
) -> None:
    """What a cell, a message or a log line writes, for any finite value: it never
    raises (each is written in the default context, as the desk writes it), and read
    back it is exactly the value rounded as the text says."""
    inst = instrument(tick, D("1"))
    texts = {
        "num": num(value, places),
        "signed": signed(value, places),
        "pct": pct(value, places),
        "num_exact": num(value),
        "trim": trim(value),
        "money": money_text(value),
        "price": price_text(value, inst),
        "avg": avg_text(value, inst),
        "mark": inst.mark_text(value),
        "qty": qty_text(value, inst),
        "plain": plain(value),
    }

    def read(name: str) -> D:
        return D(texts[name].replace(",", "").removesuffix(CUT).removesuffix("%"))

    with localcontext(WIDE):
        unit = D(1).scaleb(-places)
        tick_unit = tick.normalize()
        assert read("num") == value.quantize(unit)
        assert read("signed") == value.quantize(unit)
        assert read("pct") == value.quantize(unit)
        assert read("num_exact") == value
        assert read("plain") == value
        assert read("trim") == value.quantize(D("1E-8"))
        assert read("money") == value.quantize(D("1E-8"), rounding=ROUND_DOWN)
        # On the tick, or with the price's own decimals where it has more (an
        # execution between two ticks, said as made), at most 8.
        own = max(0, -int(value.normalize().as_tuple().exponent))
        tick_places = max(0, -int(tick_unit.as_tuple().exponent))
        assert read("price") == value.quantize(D(1).scaleb(-min(max(tick_places, own), 8)))
        finer = (value.quantize(tick_unit), value.quantize(tick_unit / 10))
        assert read("avg") in finer
        assert read("mark") in finer
        assert read("qty") == value.quantize(D("1E-8"), rounding=ROUND_DOWN)


@given(
    st.sampled_from(["1E+600000", "-9E+999999", "1.5E+61", "1E-600000", "-7E-999999"]),
    steps,
)
def test_a_number_no_check_caught_is_written_as_held_and_quickly(value: str, tick: D) -> None:
    """Beyond 10^60 a number is data no check caught: written as held (`1E+600000`),
    never spelled out (600,000 digits took a minute a cell); the checks refuse it
    (`InvalidOperation`) rather than work on it."""
    number = D(value)
    inst = instrument(tick, D("1"))
    shown_as = [
        num(number, 2),
        num(number),
        signed(number),
        pct(number),
        trim(number),
        money_text(number),
        price_text(number, inst),
        avg_text(number, inst),
        inst.mark_text(number),
        qty_text(number, inst),
        plain(number),
    ]
    for text in shown_as:
        assert len(text) < 20, text
    if abs(number.adjusted()) > 100:
        big = number.adjusted() > 0
        if big:
            with pytest.raises(InvalidOperation):
                quantize_to_step(number, tick)
        else:
            assert quantize_to_step(number, tick) == 0


@given(st.sampled_from(["-0", "-0.00000000", "-0E+3", "-0.000000001", "-0.0000000001"]), steps)
def test_no_text_of_a_number_is_a_negative_zero(value: str, tick: D) -> None:
    """A balance of `-0.00000000` on the bus read `-0.00` in the Balances pane and the
    Log; a price rounding to nothing read `-0.00`. What reads as zero is written
    without a sign (a tiny negative written exactly keeps its own)."""
    number = D(value)
    inst = instrument(tick, D("1"))
    texts = [
        num(number, 2),
        num(number),
        signed(number),
        pct(number),
        trim(number),
        money_text(number),
        exact_text(number),
        fmt(number),
        fmt(number, 2),
        price_text(number, inst),
        avg_text(number, inst),
        qty_text(number, inst),
    ]
    for text in texts:
        if D(text.replace(",", "").removesuffix(CUT).removesuffix("%")) == 0:
            assert not text.startswith("-"), texts  # a zero reads without a sign
