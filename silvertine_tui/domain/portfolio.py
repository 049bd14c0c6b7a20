"""Positions and balances as reported or computed."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from .enums import Side
from .money import Dec


class Position(BaseModel):
    """A signed position (negative is short) in one instrument at one account."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    broker: str
    account: str
    instrument: str
    quantity: Dec
    avg_price: Dec | None = None
    realized_pnl: Dec = Decimal(0)
    currency: str = ""
    fees: dict[str, Dec] = Field(default_factory=dict)
    # The value in `currency` of the fees paid in other currencies, when charged.
    fee_values: dict[str, Dec] = Field(default_factory=dict)


class Balance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    broker: str
    account: str
    currency: str = Field(min_length=1)
    total: Dec
    available: Dec
    locked: Dec = Decimal(0)


def adds_to_position(position: Decimal, side: Side) -> bool:
    """Whether an order on `side`, filled, would add to `position` (any order when
    flat): what REDUCE_ONLY refuses of a new order and cancels of a working one."""
    return position == 0 or (position > 0) == (side.sign > 0)


def reduce_limit(position: Decimal, side: Side, working_same: Decimal) -> Decimal:
    """The largest quantity an order on `side` may have without the position crossing
    zero, when everything already working on that side fills first."""
    if adds_to_position(position, side):
        return Decimal(0)
    return max(Decimal(0), abs(position) - working_same)
