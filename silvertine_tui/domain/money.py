"""Decimal helpers. Prices, quantities and money are never floats."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Annotated, Literal

from pydantic import Field

ZERO = Decimal(0)

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


def quantize_to_step(value: Decimal, step: Decimal, mode: RoundingMode = "nearest") -> Decimal:
    """Round `value` to a multiple of `step` (a tick or a lot), exactly."""
    if step <= 0:
        raise ValueError("step must be positive")
    units = (value / step).to_integral_value(rounding=_MODES[mode])
    result = units * step
    # Keep the step's exponent so 0.1 * 3 prints as 0.3, not 0.30000.
    return (
        result.quantize(step) if result.as_tuple().exponent != step.as_tuple().exponent else result
    )


def is_multiple(value: Decimal, step: Decimal) -> bool:
    return step > 0 and (value % step) == 0


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """Human formatting with thousands separators (for messages, not the wire)."""
    if value is None:
        return "-"
    if places is None:
        return f"{value:,f}"
    return f"{value:,.{places}f}"
