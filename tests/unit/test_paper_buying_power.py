"""The paper account's buying power with shorts and leverage (docs/paper-simulator.md,
"Checks", rule 5): a filled short keeps its proceeds and its margin reserved, and
leverage multiplies equity, never a debt a leveraged buy left."""

from __future__ import annotations

import contextlib
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.brokers import InsufficientFunds
from silvertine_tui.brokers.paper import MarketBook, PaperVenue
from silvertine_tui.config import PaperChecksConfig
from silvertine_tui.domain import Side
from tests.unit.test_paper_venue import BOOK, BUY, ETH, KEY, SELL, T0, fills_of, req

DEEP = MarketBook.of(KEY, [("1999.50", "1000")], [("2000.50", "1000")])
# A book of several levels a side, deep enough for every size the properties try.
LADDER = MarketBook.of(
    KEY,
    [("1999.50", "0.7"), ("1999.25", "1.3"), ("1999.00", "2"), ("1998.00", "50")],
    [("2000.50", "0.7"), ("2000.75", "1.3"), ("2001.00", "2"), ("2002.00", "50")],
)


def venue(
    cash: str = "1000", *, leverage: str = "1", shorts: bool = False, book: MarketBook = DEEP
) -> PaperVenue:
    v = PaperVenue(
        [ETH],
        cash={"USDT": D(cash)},
        checks=PaperChecksConfig(leverage=D(leverage), short_selling=shorts),
    )
    v.set_book(book, T0)
    return v


def filled(v: PaperVenue, side: Side, qty: str, limit: str | None = None) -> D:
    return sum((f.quantity for f in fills_of(v.submit(req(side, qty, limit), T0))), D(0))


# -- 1. a filled short keeps its proceeds and its margin reserved --------------------------


def test_a_filled_short_does_not_pay_for_the_next_one() -> None:
    v = venue(shorts=True)
    assert filled(v, SELL, "0.4") == D("0.4")  # 799.80 short of 1,000 USDT: allowed
    # Cash holds 1,799.0002 with the proceeds, but they and the margin stay reserved.
    assert v.account.cash["USDT"] == D("1799.0002")
    assert v.account.buying_power("USDT") == D("1799.0002") - 2 * D("799.80")
    with pytest.raises(InsufficientFunds, match="insufficient balance"):
        v.submit(req(SELL, "0.3"), T0)  # 599.85 more short: refused
    assert v.account.position_qty(KEY) == D("-0.4")


def test_a_resting_short_sell_is_checked_against_the_reserved_proceeds_too() -> None:
    v = venue(shorts=True)
    filled(v, SELL, "0.4")
    with pytest.raises(InsufficientFunds, match="insufficient balance"):
        v.submit(req(SELL, "0.3", "2100.00"), T0)  # a limit short waiting above


def test_the_short_can_always_be_bought_back() -> None:
    """Its proceeds are reserved: buying it back pays with them (not refused)."""
    v = venue(shorts=True)
    filled(v, SELL, "0.4")
    assert filled(v, BUY, "0.4", "2000.50") == D("0.4")
    assert v.account.position_qty(KEY) == 0
    # Flat again: what is left is the cash, less what the round trip cost.
    assert v.account.buying_power("USDT") == v.account.cash["USDT"]
    assert v.account.cash["USDT"] < D("1000")


def test_a_market_buy_back_of_the_short_is_not_refused() -> None:
    v = venue(shorts=True)
    filled(v, SELL, "0.45")
    assert filled(v, BUY, "0.45") == D("0.45")
    assert v.account.position_qty(KEY) == 0


@settings(max_examples=60, deadline=None)
@given(fractions=st.lists(st.integers(min_value=1, max_value=99), min_size=1, max_size=15))
def test_shorts_never_outgrow_the_equity(fractions: list[int]) -> None:
    """However a trader strings shorts together, the short's value stays within what
    the account can margin: cash 1,000 never holds a short worth more than 1,000."""
    v = venue(shorts=True)
    for pct in fractions:
        # A fraction of the cash (proceeds included) each time, as the reviewer did.
        qty = (v.account.cash["USDT"] / D("2000") * pct / 100).quantize(D("0.001"))
        if qty * D("1999.50") < 5:
            continue
        with contextlib.suppress(InsufficientFunds):
            v.submit(req(SELL, str(qty)), T0)
        assert v.account.buying_power("USDT") >= 0
    assert -v.account.position_qty(KEY) * D("1999.50") <= D("1000")


# -- 2. leverage multiplies equity, not a debt ---------------------------------------------


def test_a_leveraged_buy_leaves_the_rest_of_the_leverage() -> None:
    v = venue(leverage="3", book=BOOK)
    assert filled(v, BUY, "1") == D("1")  # 2,002.5005 of 3,000
    assert v.account.cash["USDT"] == D("-1002.5005")
    # equity 997.9995 (cash + the position's cost 2,000.50) * 3 - 2,000.50
    assert v.account.buying_power("USDT") == D("997.9995") * 3 - D("2000.50")
    assert filled(v, BUY, "0.01", "1990.00") == D(0)  # rests: accepted
    assert len(v.open_orders()) == 1


def test_one_buy_of_1_4_or_two_buys_of_1_and_0_4_alike() -> None:
    one = venue(leverage="3", book=BOOK)
    two = venue(leverage="3", book=BOOK)
    assert filled(one, BUY, "1.4") == D("1.4")
    assert filled(two, BUY, "1") == D("1")
    assert filled(two, BUY, "0.4") == D("0.4")
    assert two.account.buying_power("USDT") == one.account.buying_power("USDT")


def test_without_leverage_and_positions_buying_power_is_cash_less_reserved() -> None:
    v = venue(cash="5000", book=BOOK)
    v.submit(req(BUY, "1", "1990.00"), T0)
    assert v.account.buying_power("USDT") == D("5000") - D("1990") * D("1.001")
    filled(v, BUY, "1")
    # A long position costs what it paid: cash less what is locked, as before.
    assert v.account.buying_power("USDT") == v.account.cash["USDT"] - v.account.locked["USDT"]


def _attempt(v: PaperVenue, side: Side, lots: int) -> bool:
    try:
        v.submit(req(side, str(D(lots) / 100)), T0)
    except InsufficientFunds:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    leverage=st.sampled_from(["1", "2", "3", "5", "10"]),
    cash=st.integers(min_value=500, max_value=20_000),
    total=st.integers(min_value=2, max_value=2_000),  # in 0.01 (20 USDT) steps
    cut=st.floats(min_value=0.01, max_value=0.99),
    side=st.sampled_from([BUY, SELL]),
)
def test_a_position_built_in_two_orders_is_judged_as_one(
    leverage: str, cash: int, total: int, cut: float, side: Side
) -> None:
    """Two market orders of a and b are accepted exactly when one of a + b is, and
    leave the same buying power (longs, and shorts with `short_selling`)."""
    first = max(1, min(total - 1, int(total * cut)))
    one = venue(str(cash), leverage=leverage, shorts=True, book=LADDER)
    two = venue(str(cash), leverage=leverage, shorts=True, book=LADDER)
    whole = _attempt(one, side, total)
    split = _attempt(two, side, first) and _attempt(two, side, total - first)
    assert whole == split
    if whole:
        assert one.account.position_qty(KEY) == two.account.position_qty(KEY)
        assert two.account.buying_power("USDT") == one.account.buying_power("USDT")
        assert one.account.buying_power("USDT") >= 0
