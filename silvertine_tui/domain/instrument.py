"""Instruments and the `SYMBOL.VENUE` keys that name them."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ValidationIssue
from .money import Dec, RoundingMode, fmt, is_multiple, quantize_to_step


def instrument_key(symbol: str, venue: str) -> str:
    return f"{symbol}.{venue}"


def split_key(key: str) -> tuple[str, str]:
    """`BRK.B.SMART` -> (`BRK.B`, `SMART`): the venue is after the last dot."""
    symbol, dot, venue = key.rpartition(".")
    if not dot or not symbol or not venue:
        raise ValueError(f"instrument key {key!r} is not SYMBOL.VENUE")
    return symbol, venue


class Instrument(BaseModel):
    """A tradable instrument with the venue's grid rules.

    `tick_size` is the price grid, `lot_size` the quantity grid; `min_qty` and
    `min_notional` are the venue's minimums (0 when it has none).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1)
    venue: str = Field(min_length=1)
    base_currency: str = ""
    quote_currency: str
    tick_size: Dec = Field(gt=0)
    lot_size: Dec = Field(gt=0)
    min_qty: Dec = Field(default=Decimal(0), ge=0)
    min_notional: Dec = Field(default=Decimal(0), ge=0)
    multiplier: Dec = Field(default=Decimal(1), gt=0)

    @field_validator("symbol", "venue")
    @classmethod
    def _no_spaces(cls, value: str) -> str:
        if any(c.isspace() for c in value):
            raise ValueError("must not contain spaces")
        return value

    @property
    def key(self) -> str:
        return instrument_key(self.symbol, self.venue)

    def round_price(self, price: Decimal, mode: RoundingMode = "nearest") -> Decimal:
        return quantize_to_step(price, self.tick_size, mode)

    def round_qty(self, qty: Decimal, mode: RoundingMode = "down") -> Decimal:
        """Quantities round down by default: never send more than asked."""
        return quantize_to_step(qty, self.lot_size, mode)

    def notional(self, qty: Decimal, price: Decimal) -> Decimal:
        return qty * price * self.multiplier

    def check_price(self, price: Decimal, field: str) -> list[ValidationIssue]:
        if not price.is_finite():
            return [ValidationIssue(field, "finite", "must be a finite number")]
        if price <= 0:
            return [ValidationIssue(field, "positive", f"{fmt(price)} must be greater than 0")]
        if not is_multiple(price, self.tick_size):
            return [
                ValidationIssue(
                    field,
                    "tick_size",
                    f"{fmt(price)} is not a multiple of tick size {fmt(self.tick_size)}"
                    f" (nearest {fmt(self.round_price(price))})",
                )
            ]
        return []

    def check_qty(self, qty: Decimal, field: str = "quantity") -> list[ValidationIssue]:
        if not qty.is_finite():
            return [ValidationIssue(field, "finite", "must be a finite number")]
        if qty <= 0:
            return [ValidationIssue(field, "positive", f"{fmt(qty)} must be greater than 0")]
        issues: list[ValidationIssue] = []
        if not is_multiple(qty, self.lot_size):
            issues.append(
                ValidationIssue(
                    field,
                    "lot_size",
                    f"{fmt(qty)} is not a multiple of lot size {fmt(self.lot_size)}",
                )
            )
        if qty < self.min_qty:
            issues.append(
                ValidationIssue(field, "min_qty", f"{fmt(qty)} < minimum {fmt(self.min_qty)}")
            )
        return issues
