"""Decimal helpers. Prices, quantities and money are never floats."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    InvalidOperation,
)
from typing import Annotated, Any, Literal

from pydantic import Field, GetCoreSchemaHandler
from pydantic_core import core_schema

ZERO = Decimal(0)
MAX_PLACES = 8
CUT = "…"
"""Ends a number cut toward zero (more decimals than shown): more is held."""

RoundingMode = Literal["nearest", "down", "up"]
_MODES = {"nearest": ROUND_HALF_EVEN, "down": ROUND_FLOOR, "up": ROUND_CEILING}


FLOAT_ON_WIRE = "decimal_not_string"
"""The error type of a Decimal read from JSON as a number with a fraction or exponent."""


class _ExactOnWire:
    """Read from JSON (the wire, a snapshot), a Decimal must be a string or an integer:
    a JSON number with a fraction or exponent is parsed as a binary float before any
    validator sees it, so `12345678.123456789` would be taken as 12345678.12345679 —
    another number than the one written. It is refused (the entry is a counted decode
    error) instead. Python values (config, typed input, an adapter's own conversions)
    are validated as before.

    Both checks are pydantic-core's own (no Python call per value): replay decodes
    every journal entry through them."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        schema = handler(source)
        exact = core_schema.union_schema(
            [core_schema.str_schema(strict=True), core_schema.int_schema(strict=True)],
            mode="left_to_right",
            custom_error_type=FLOAT_ON_WIRE,
            custom_error_message=(
                "a Decimal must be a JSON string (or an integer): a number with a "
                "fraction or exponent is read through binary floating point"
            ),
        )
        return core_schema.json_or_python_schema(
            json_schema=core_schema.chain_schema([exact, schema]),
            python_schema=schema,
            serialization=schema.get("serialization"),
        )


# A finite Decimal (NaN and infinities are refused). Pydantic writes Decimal to JSON as
# a string, which is what the wire wants; read from JSON it must be one (`_ExactOnWire`).
# Constraints go before `_ExactOnWire` (`x: Dec = Field(ge=0)` does; an optional field
# takes `PositiveDec | None` or `NonNegativeDec | None`): put after it, pydantic checks
# them with a Python function per value.
Dec = Annotated[Decimal, Field(allow_inf_nan=False), _ExactOnWire]
PositiveDec = Annotated[Decimal, Field(allow_inf_nan=False, gt=0), _ExactOnWire]
NonNegativeDec = Annotated[Decimal, Field(allow_inf_nan=False, ge=0), _ExactOnWire]


def to_decimal(value: Decimal | int | str) -> Decimal:
    """Convert without ever going through binary floating point."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("bool is not a number")
    return Decimal(value)


WIDE_DIGITS_MAX = 400
"""The most digits a wide context (`_wide`) takes: beyond, a number is no price,
quantity or sum of money but data no check caught, and spelling it out held the desk
(a quantity of 10^600000 took a minute to write, a megabyte a cell)."""

SHOWN_EXPONENT = 60
"""Numbers beyond 10^±60 are printed as they are held (`1E+600000`; see `absurd`)."""

_CONTEXTS: dict[int, Context] = {}


def add_per_currency(
    totals: dict[str, Decimal], amounts: Iterable[tuple[str, Decimal]], blank: str = ""
) -> None:
    """Amounts added to totals kept per currency (an unnamed currency taken as `blank`);
    a currency whose total comes to 0 goes."""
    for currency, amount in amounts:
        currency = currency or blank
        total = totals.get(currency, ZERO) + amount
        if total:
            totals[currency] = total
        else:
            totals.pop(currency, None)


def absurd(value: Decimal) -> bool:
    """Beyond 10^±`SHOWN_EXPONENT`: printed as held, never spelled out."""
    return value.is_finite() and not value.is_zero() and abs(value.adjusted()) > SHOWN_EXPONENT


def _wide(value: Decimal, step: Decimal) -> Context:
    """A context with the digits `value` in units of `step` needs, exactly, and no
    exponent limit: the default context's 28 digits refuse a longer result
    (`InvalidOperation`), and a price of 10^27 typed on a 0.01 tick (a held-down zero
    key) or a notional of 10^30 in cents stopped the app. Both numbers' digits are
    counted in, so that nothing in `value / step` is rounded (a quotient rounded to 28
    digits floored 10^27 + 0.2499 to the cent above it, and took 2.5000...0001 for a
    tie). Raises `InvalidOperation` beyond `WIDE_DIGITS_MAX` digits."""
    whole = max(value.adjusted() - step.adjusted(), 0)
    digits = len(value.as_tuple().digits) + len(step.as_tuple().digits)
    prec = max(whole + digits + 3, 28)
    context = _CONTEXTS.get(prec)
    if context is None:
        if prec > WIDE_DIGITS_MAX:
            raise InvalidOperation(f"{prec} digits needed: more than {WIDE_DIGITS_MAX}")
        context = _CONTEXTS[prec] = Context(prec=prec, Emax=MAX_EMAX, Emin=MIN_EMIN)
    return context


_EXACT = Context(prec=WIDE_DIGITS_MAX, Emax=MAX_EMAX, Emin=MIN_EMIN)


def normalized(value: Decimal) -> Decimal:
    """`value.normalize()` without rounding it to the default context's 28 digits (a
    text of a number is the number: `value.normalize()` wrote 5.67928394684499524703664300
    for 5.679283946844995247036643006)."""
    return value.normalize(_EXACT)


def quantized(value: Decimal, exp: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """`value.quantize(exp, rounding)` for any finite `value`, however many digits the
    result has (see `_wide`); an `absurd` value is returned as it is (for its text and
    its sign: nothing else reads it)."""
    try:
        return value.quantize(exp, rounding=rounding)
    except InvalidOperation:
        if not value.is_finite():
            raise
        if absurd(value):
            return value
        return value.quantize(exp, rounding=rounding, context=_wide(value, exp))


def quantize_to_step(value: Decimal, step: Decimal, mode: RoundingMode = "nearest") -> Decimal:
    """Round `value` to a multiple of `step` (a tick or a lot), exactly: the whole
    steps in it and what is left, each exact (`_wide`), then the mode decides."""
    if step <= 0:
        raise ValueError("step must be positive")
    context = _wide(value, step)
    units, rest = context.divmod(value, step)  # whole steps toward zero; rest signed
    if rest:
        away = 1 if rest > 0 else -1  # one step further from zero
        if mode == "down":
            move = -1 if rest < 0 else 0
        elif mode == "up":
            move = 1 if rest > 0 else 0
        else:
            twice = context.multiply(rest.copy_abs(), 2)  # (abs() rounds to 28 digits)
            odd = context.remainder(units, 2) != 0
            move = away if twice > step or (twice == step and odd) else 0
        if move:
            units = context.add(units, move)
    result = context.multiply(units, step)
    if result.is_zero():
        result = result.copy_abs()  # -0.9 up is 0, not -0
    # Keep the step's exponent so 0.1 * 3 prints as 0.3, not 0.30000.
    return (
        quantized(result, step)
        if result.as_tuple().exponent != step.as_tuple().exponent
        else result
    )


def is_multiple(value: Decimal, step: Decimal) -> bool:
    """Exactly (`_wide`): `value % step` in the default context raised for a quotient
    longer than 28 digits."""
    return step > 0 and _wide(value, step).remainder(value, step) == 0


def plain(value: Decimal) -> str:
    """`value` in plain notation, as a message or a reconcile finding writes it
    (`0.00012345`, not `1.2345E-4`); beyond 10^±`SHOWN_EXPONENT` as held (`1E+500000`:
    spelled out, one fill of data no check caught made a half-megabyte health event)."""
    return str(value) if absurd(value) else f"{value:f}"


def unsigned_zero(value: Decimal) -> Decimal:
    """`value`, a negative zero made zero: no text of a number reads `-0` or `-0.00`."""
    return value.copy_abs() if value.is_zero() else value


def decimal_places(value: Decimal) -> int:
    """Decimal places of a tick, a lot or a number as held (0.01 -> 2, 1 -> 0, 1E+1 ->
    0; `normalized`: never rounded to the context's 28 digits first)."""
    exponent = normalized(value).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def fmt(value: Decimal | None, places: int | None = None) -> str:
    """Human formatting with thousands separators (for messages, not the wire)."""
    if value is None:
        return "-"
    if absurd(value):
        return str(value)
    if places is not None:
        value = quantized(value, Decimal(1).scaleb(-places))
    value = unsigned_zero(value)
    if places is None:
        return f"{value:,f}"
    return f"{value:,.{places}f}"


def exact_text(value: Decimal | None, max_places: int = MAX_PLACES, least: int = 0) -> str:
    """`value` exactly, with `least` places at least, trailing zeros beyond them off;
    more than `max_places` decimals are cut toward zero (never rounded away from it)
    and marked `CUT`."""
    if value is None:
        return "-"
    if not value.is_finite() or absurd(value):
        return str(value)
    cut = quantized(value, Decimal(1).scaleb(-max_places), ROUND_DOWN)
    mark = CUT if cut != value else ""
    cut = unsigned_zero(cut)  # (a balance of -0.00000000 on the bus)
    normal = normalized(cut)
    exponent = normal.as_tuple().exponent
    places = max(least, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{cut:,.{places}f}{mark}"


def money_text(value: Decimal | None, max_places: int = MAX_PLACES) -> str:
    """A balance exactly as held, with two places at least: `949,455.84`, `3,178.18`,
    `1.000999` BTC, `0.00012345` BTC. Never rounded (a BTC balance of 1.000999 read
    `1.001`: more than is there); beyond `max_places` decimals cut toward zero and
    marked `…`. The Balances pane and the journal's BALANCE lines both write it."""
    return exact_text(value, max_places, least=2)


CENT_CURRENCIES = frozenset(
    {"USD", "EUR", "GBP", "CHF", "JPY", "CAD", "AUD", "NZD", "HKD", "SGD", "SEK", "NOK"}
    | {"DKK", "CNH", "KRW", "MXN", "ZAR", "USDT", "USDC", "FDUSD", "TUSD", "DAI", "BUSD"}
)
"""Money and its dollar tokens: an amount of them (a P&L, a fee) is said to the cent at
least, whatever the instrument's tick (a DOGEUSDT tick of 0.00001 says nothing of what
0.00001 USDT is worth; EUR.USD's 0.00005 said a fee of 2 USD `2.00000`)."""
