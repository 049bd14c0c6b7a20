"""A funds reject never reads as if the trader had what they need.

The paper venue refuses an order it cannot reserve with "insufficient balance: need X
USDT, available Y". Both figures were rounded to 2 places, and a shortfall under a cent
read "need 1,000.00 USDT, available 1,000.00". They are now shown with 2 places, or with
as many more as it takes for them to differ.
"""

from __future__ import annotations

import re
from decimal import Decimal as D

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import InsufficientFunds
from tests.unit.test_paper_venue import BUY, T0, make_venue, req

MESSAGE = re.compile(r"^insufficient balance: need ([\d,.]+) USDT, available (-?[\d,.]+)$")
RESERVE = D("1.001")  # 1 + the higher fee rate (taker 10 bps)


def figures(exc: InsufficientFunds) -> tuple[str, str]:
    match = MESSAGE.match(str(exc))
    assert match is not None, str(exc)
    return match.group(1), match.group(2)


def value(text: str) -> D:
    return D(text.replace(",", ""))


def test_a_shortfall_under_a_cent_is_shown_to_the_digit_that_differs() -> None:
    # 0.5 @ 1,998.00 reserves 0.5 * 1,998 * 1.001 = 999.999; the account has 999.998.
    venue = make_venue("999.998")
    with pytest.raises(InsufficientFunds) as refused:
        venue.submit(req(BUY, "0.5", "1998.00"), T0)
    assert str(refused.value) == "insufficient balance: need 999.999 USDT, available 999.998"


def test_a_market_buy_short_by_a_fraction_of_a_cent() -> None:
    # The walk: 0.5 @ 2,000.50 = 1,000.25, fee 1.00025: 1,001.25025 (both 1,001.25).
    venue = make_venue("1001.25")
    with pytest.raises(InsufficientFunds) as refused:
        venue.submit(req(BUY, "0.5"), T0)
    need, have = figures(refused.value)
    assert value(need) > value(have)
    assert (need, have) == ("1,001.2502", "1,001.2500")


def test_a_shortfall_of_a_cent_or_more_reads_as_before() -> None:
    venue = make_venue("1000")
    with pytest.raises(InsufficientFunds) as refused:
        venue.submit(req(BUY, "3.25", "2000.00"), T0)
    assert str(refused.value) == "insufficient balance: need 6,506.50 USDT, available 1,000.00"


@settings(max_examples=300, deadline=None)
@given(
    lots=st.integers(5, 5_000),  # 0.005 .. 5 (a notional of 5 at least)
    ticks=st.integers(100_000, 300_000),  # 1,000.00 .. 3,000.00
    short=st.decimals(D("0.00000001"), D("0.05"), places=8),
)
@example(lots=500, ticks=199_800, short=D("0.001"))  # the reviewer's 999.999 vs 999.998
@example(lots=1, ticks=99_900_100, short=D("0.00000100"))  # 1,000.000001 vs 1,000
def test_a_refusal_never_reads_need_at_or_below_available(lots: int, ticks: int, short: D) -> None:
    qty = lots * D("0.001")
    price = ticks * D("0.01")
    need = qty * price * RESERVE
    cash = need - short
    venue = make_venue(str(cash))
    with pytest.raises(InsufficientFunds) as refused:
        venue.submit(req(BUY, str(qty), str(price)), T0)
    shown_need, shown_have = figures(refused.value)
    assert value(shown_need) > value(shown_have), str(refused.value)
    # Each as exact as the places shown allow (never more than half a last digit off).
    places = len(shown_need.partition(".")[2])
    assert places == len(shown_have.partition(".")[2]) >= 2
    half = D(1).scaleb(-places) / 2
    assert abs(value(shown_need) - need) <= half
    assert abs(value(shown_have) - cash) <= half
