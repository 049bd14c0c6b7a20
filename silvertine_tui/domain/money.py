"""Decimal helpers. Prices, quantities and money are never floats."""

from __future__ import annotations

from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
    getcontext,
)
from typing import Annotated, Literal

from pydantic import Field

ZERO = Decimal(0)
MAX_PLACES = 8
CUT = "…"
"""Ends a number cut toward zero (more decimals than shown): more is held."""

RoundingMode = Literal["nearest", "down", "up"]
_MODES = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}


# A finite Decimal (NaN and infinities are refused). Pydantic writes Decimal to JSON as
# a string, which is what the wire wants.
Dec = Annotated[Decimal, Field(allow_inf_nan=False)]


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Convert without ever going through binary floating point."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    return Decimal(value)


def _wide(value: Decimal, step: Decimal) -> Context:
    """A context with the digits `value` in units of `step` needs, exactly: the default
    context's 28 refuse a longer result (`InvalidOperation`), and a price of 10^27
    typed on a 0.01 tick (a held-down zero key) or a notional of 10^30 in cents stopped
    the app. Both numbers' digits are counted in, so that `value / step` is not rounded
    across a whole unit (it was: 10^27 + 0.2499 floored to the cent above it)."""
    whole = max(value.adjusted() - step.adjusted(), 0)
    digits = len(value.as_tuple().digits) + len(step.as_tuple().digits)
    return Context(prec=whole + digits + 3)


def quantized(value: Decimal, exp: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """`value.quantize(exp, rounding)` for any finite `value`, however many digits the
    result has (see `_wide`)."""
    try:
        return value.quantize(exp, rounding=rounding)
    except InvalidOperation:
        if not value.is_finite():
            raise
        return value.quantize(exp, rounding=rounding, context=_wide(value, exp))


def quantize_to_step(value: Decimal, step: Decimal, mode: RoundingMode = "nearest") -> Decimal:
    """Round `value` to a multiple of `step` (a tick or a lot), exactly."""
    if step <= 0:
        raise ValueError("step must be positive")
    # Beyond the default context's 28 digits (see `_wide`) the quotient was rounded.
    digits = value.adjusted() - step.adjusted()
    context = _wide(value, step) if digits > 24 else getcontext()
    units = context.divide(value, step).to_integral_value(rounding=_MODES[mode])
    result = context.multiply(units, step)
    # Keep the step's exponent so 0.1 * 3 prints as 0.3, not 0.30000.
    return (
        quantized(result, step)
        if result.as_tuple().exponent != step.as_tuple().exponent
        else result
    )


def is_multiple(value: Decimal, step: Decimal) -> bool:
    if step <= 0:
        return False
    try:
        return value % step == 0
    except InvalidOperation:  # a quotient longer than the context's digits
        if not value.is_finite():
            raise
        return _wide(value, step).remainder(value, step) == 0


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """Human formatting with thousands separators (for messages, not the wire)."""
    if value is None:
        return "-"
    if places is None:
        return f"{value:,f}"
    return f"{value:,.{places}f}"


def exact_text(value: Decimal | None, max_places: int = MAX_PLACES, least: int = 0) -> str:
    """`value` exactly, with `least` places at least, trailing zeros beyond them off;
    more than `max_places` decimals are cut toward zero (never rounded away from it)
    and marked `CUT`."""
    if value is None:
        return "-"
    if not value.is_finite():
        return str(value)
    cut = quantized(value, Decimal(1).scaleb(-max_places), ROUND_DOWN)
    mark = CUT if cut != value else ""
    normal = cut.normalize()
    exponent = normal.as_tuple().exponent
    places = max(least, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{cut:,.{places}f}{mark}"


def money_text(value: Decimal | None, max_places: int = MAX_PLACES) -> str:
    """A balance exactly as held, with two places at least: `949,455.84`, `3,178.18`,
    `1.000999` BTC, `0.00012345` BTC. Never rounded (a BTC balance of 1.000999 read
    `1.001`: more than is there); beyond `max_places` decimals cut toward zero and
    marked `…`. The Balances pane and the journal's BALANCE lines both write it."""
    return exact_text(value, max_places, least=2)
