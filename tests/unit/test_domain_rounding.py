"""Price and quantity rounding never leave the tick or lot grid."""

from __future__ import annotations

from decimal import ROUND_DOWN, Context, localcontext
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Instrument, quantize_to_step, split_key
from silvertine_tui.domain.money import CUT, is_multiple, money_text
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
# `InvalidOperation` in `is_multiple` and stopped the desk.
any_size = st.decimals(
    min_value=D("-1E+40"), max_value=D("1E+40"), allow_nan=False, allow_infinity=False
)
WIDE = Context(prec=200)  # the test's own arithmetic, exact at these sizes


@settings(max_examples=500)
@given(any_size, steps, st.sampled_from(["nearest", "down", "up"]))
def test_rounding_and_checks_hold_at_any_size(value: D, step: D, mode: str) -> None:
    rounded = quantize_to_step(value, step, mode)  # type: ignore[arg-type]
    with localcontext(WIDE):
        assert rounded % step == 0
        off = rounded - value
        assert abs(off) <= (step / 2 if mode == "nearest" else step)
        assert off <= 0 if mode == "down" else off >= 0 if mode == "up" else True
        assert is_multiple(rounded, step)
        assert is_multiple(rounded + step / 2, step) is False


@settings(max_examples=500)
@given(any_size, steps, st.integers(min_value=0, max_value=10))
def test_every_text_of_a_number_is_its_value_rounded_at_any_size(
    value: D, tick: D, places: int
) -> None:
    """What a cell, a message or a log line writes, for any finite value: it never
    raises, and read back it is exactly the value rounded as the text says."""
    inst = instrument(tick, D("1"))

    def read(text: str) -> D:
        return D(text.replace(",", "").removesuffix(CUT).removesuffix("%"))

    with localcontext(WIDE):
        unit = D(1).scaleb(-places)
        assert read(num(value, places)) == value.quantize(unit)
        assert read(signed(value, places)) == value.quantize(unit)
        assert read(pct(value, places)) == value.quantize(unit)
        assert read(num(value)) == value
        assert read(trim(value)) == value.quantize(D("1E-8"))
        assert read(money_text(value)) == value.quantize(D("1E-8"), rounding=ROUND_DOWN)
        assert read(price_text(value, inst)) == value.quantize(tick.normalize())
        assert read(avg_text(value, inst)) in (
            value.quantize(tick.normalize()),
            value.quantize(tick.normalize() / 10),
        )
        assert read(inst.mark_text(value)) in (
            value.quantize(tick.normalize()),
            value.quantize(tick.normalize() / 10),
        )
        assert read(qty_text(value, inst)) == value.quantize(D("1E-8"), rounding=ROUND_DOWN)
