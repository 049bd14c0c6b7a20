"""Price and quantity rounding never leave the tick or lot grid."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Instrument, quantize_to_step, split_key

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
