"""The ticket's "at most N" when a buy is beyond the cash: the size named must pass the
check it is named by, fee included, the fee being `max(rate x notional, minimum)` (a
venue's minimum commission: ui/fees.py). By the rate alone the hint could name a size
whose minimum fee took it past the cash (the check counts the minimum)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.ui.orders import affordable

money = st.decimals(min_value=0, max_value=10_000_000, places=2, allow_nan=False)
rates = st.decimals(min_value=0, max_value=Decimal("0.01"), places=6, allow_nan=False)
minimums = st.decimals(min_value=0, max_value=50, places=2, allow_nan=False)


def fee(notional: Decimal, fraction: Decimal, minimum: Decimal) -> Decimal:
    return max(notional * fraction, minimum)


@settings(max_examples=400, deadline=None)
@given(available=money, fraction=rates, minimum=minimums)
def test_the_largest_affordable_notional_pays_its_fee_and_no_more_does(
    available: Decimal, fraction: Decimal, minimum: Decimal
) -> None:
    most = affordable(available, fraction, minimum)
    assert most >= 0
    if most > 0:
        assert most + fee(most, fraction, minimum) <= available + Decimal("1e-18")
    # A cent more is beyond the cash (or there was nothing to spend).
    more = most + Decimal("0.01")
    assert more + fee(more, fraction, minimum) > available or available == 0


def test_a_minimum_above_what_the_rate_charges_is_paid_out_of_the_cash() -> None:
    # 1,000.00 available, 0.1% a fill, 2.00 at least: 998.00 of notional, not 999.00
    # (999.00 at the rate is 999.999; its fee is the minimum, 2.00: 1,001.00 > 1,000).
    assert affordable(Decimal("1000"), Decimal("0.001"), Decimal("2")) == Decimal("998")
    assert affordable(Decimal("1000"), Decimal("0.001"), Decimal(0)) == Decimal("1000") / Decimal(
        "1.001"
    )
    assert affordable(Decimal("1"), Decimal("0.001"), Decimal("2")) == 0
    assert affordable(Decimal("-5"), Decimal("0.001"), Decimal(0)) == 0
