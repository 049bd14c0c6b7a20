"""Average cost, realized and unrealized P&L, fees, totals."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from silvertine_tui.domain import Fill, Instrument, Quote, Side
from silvertine_tui.engine.portfolio import Portfolio

INST = Instrument(
    symbol="X", venue="PAPER", quote_currency="USD", tick_size=D("0.01"), lot_size=D("1")
)


def fill(n: int, side: Side, qty: str, price: str, fee: str = "0") -> Fill:
    return Fill(
        exec_id=f"e{n}",
        client_order_id="c",
        broker="paper",
        account="main",
        instrument="X.PAPER",
        side=side,
        quantity=D(qty),
        price=D(price),
        fee=D(fee),
        fee_currency="USD",
    )


def test_weighted_average_cost_and_realized() -> None:
    p = Portfolio({INST.key: INST})
    p.apply_fill(fill(1, Side.BUY, "10", "100"))
    p.apply_fill(fill(2, Side.BUY, "10", "110"))
    state = p.positions[("paper", "main", "X.PAPER")]
    assert (state.quantity, state.avg_price) == (D("20"), D("105"))
    p.apply_fill(fill(3, Side.SELL, "5", "120", fee="1"))
    assert state.quantity == D("15")
    assert state.avg_price == D("105")  # reducing keeps the average
    assert state.realized_pnl == D("5") * 15 - 1
    p.apply_quote(Quote(instrument="X.PAPER", bid=D("99"), ask=D("101")))
    assert p.unrealized(state) == (D("100") - D("105")) * 15
    totals = p.totals()
    assert totals.realized == {"USD": D("74")}
    assert totals.unrealized == {"USD": D("-75")}
    assert totals.fees == {"USD": D("1")}


def test_through_zero_opens_at_trade_price_and_short_pnl() -> None:
    p = Portfolio({INST.key: INST})
    p.apply_fill(fill(1, Side.BUY, "5", "100"))
    p.apply_fill(fill(2, Side.SELL, "8", "90"))
    state = p.positions[("paper", "main", "X.PAPER")]
    assert state.quantity == D("-3")
    assert state.avg_price == D("90")
    assert state.realized_pnl == D("-50")
    p.apply_fill(fill(3, Side.BUY, "3", "80"))
    assert state.quantity == 0
    assert state.avg_price is None
    assert state.realized_pnl == D("-50") + D("30")


def test_duplicate_execution_counts_once() -> None:
    p = Portfolio()
    assert p.apply_fill(fill(1, Side.BUY, "1", "10"))
    assert not p.apply_fill(fill(1, Side.BUY, "1", "10"))
    assert p.position("paper", "main", "X.PAPER") == D("1")


trades = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1, 20),
        st.integers(50, 150),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(trades, st.integers(50, 150))
def test_pnl_equals_cash_flow_when_marked(seq: list[tuple[Side, int, int]], mark: int) -> None:
    """realized + unrealized == cash received - cash paid + position x mark, always.

    Exact up to the 28 significant digits Decimal carries the average cost at (the
    average of 50 and 2 x 51 is 50.666...); the bound is far below a cent.
    """
    p = Portfolio({INST.key: INST})
    cash = D(0)
    for n, (side, qty, price) in enumerate(seq):
        p.apply_fill(fill(n, side, str(qty), str(price)))
        cash -= side.sign * D(qty) * D(price)
    p.apply_quote(Quote(instrument="X.PAPER", last=D(mark)))
    state = p.positions[("paper", "main", "X.PAPER")]
    upl = p.unrealized(state)
    assert upl is not None
    assert abs(state.realized_pnl + upl - (cash + state.quantity * D(mark))) < D("1e-20")


def test_a_quantity_taken_from_the_venue_has_no_cost_until_it_is_flat() -> None:
    """An opening position (held before the journal) has no known cost: buying more or
    selling some never makes up an average or a P&L (it used to average the new buy
    with a cost of 0, and a sell crashed); through zero, the new side has a cost."""
    p = Portfolio({INST.key: INST})
    p.adopt_venue_quantity("paper", "main", "X.PAPER", D("10"))
    state = p.positions[("paper", "main", "X.PAPER")]
    p.apply_fill(fill(1, Side.BUY, "5", "100"))
    assert (state.quantity, state.avg_price) == (D("15"), None)
    p.apply_quote(Quote(instrument="X.PAPER", bid=D("99"), ask=D("101")))
    assert p.unrealized(state) is None
    p.apply_fill(fill(2, Side.SELL, "20", "120"))
    assert (state.quantity, state.avg_price, state.realized_pnl) == (D("-5"), D("120"), 0)
    p.apply_fill(fill(3, Side.BUY, "5", "110"))
    assert (state.quantity, state.avg_price) == (D("0"), None)
    assert state.realized_pnl == D("10") * 5  # only the short that had a cost


@given(
    st.integers(min_value=-20, max_value=20).filter(bool),
    st.integers(min_value=-20, max_value=20),
)
def test_a_mismatch_adopted_keeps_a_cost_only_for_what_is_left(ours: int, venue: int) -> None:
    """A reconcile takes the venue's quantity. What is left of ours (part of it sold
    elsewhere) keeps its average; a quantity that grew or went through zero has no
    known cost. Long 5 @ 100 taken to -3 kept the long's average: the short read -30
    unrealized at 110 and bought back at 90 realized +30, P&L that never happened."""
    p = Portfolio({INST.key: INST})
    side = Side.BUY if ours > 0 else Side.SELL
    p.apply_fill(fill(1, side, str(abs(ours)), "100"))
    p.adopt_venue_quantity("paper", "main", "X.PAPER", D(venue))
    state = p.positions[("paper", "main", "X.PAPER")]
    assert state.quantity == venue
    left = venue != 0 and (venue > 0) == (ours > 0) and abs(venue) <= abs(ours)
    assert state.avg_price == (D("100") if left else None)
    p.apply_quote(Quote(instrument="X.PAPER", bid=D("110"), ask=D("110")))
    if not left:
        assert p.unrealized(state) is None or venue == 0
        closing = Side.SELL if venue > 0 else Side.BUY
        if venue:
            p.apply_fill(fill(2, closing, str(abs(venue)), "90"))
        assert state.realized_pnl == 0  # nothing made up


def test_a_fee_booked_before_its_instrument_was_known_is_taken_off_once_it_is() -> None:
    """A fill with a fee and no fee currency, before the instrument is known (a journal
    replayed before the broker's instruments load): the fee was booked under "" and,
    once the currency was known, realized P&L never took it off."""
    p = Portfolio()
    nameless = fill(1, Side.BUY, "1", "100", fee="0.5").model_copy(update={"fee_currency": ""})
    p.apply_fill(nameless)
    p.apply_fill(fill(2, Side.SELL, "1", "101").model_copy(update={"fee_currency": ""}))
    p.set_instruments([INST])
    state = p.positions[("paper", "main", "X.PAPER")]
    assert state.fees == {"USD": D("0.5")}
    assert state.realized_pnl == D("0.5")  # 1 made, 0.5 paid


PRICES = st.one_of(
    st.none(),
    st.just(D(0)),
    st.decimals(min_value=D("-1000"), max_value=D("1000"), places=2, allow_nan=False),
)


@settings(max_examples=400)
@given(bid=PRICES, ask=PRICES, last=PRICES)
def test_a_mark_is_a_price_dealt_between_the_sides_or_none(
    bid: D | None, ask: D | None, last: D | None
) -> None:
    """An empty side (Binance says it as 0) made the mark half the other side, a
    crossed quote a price nobody dealt at, both sides empty a mark of 0 (which let any
    notional through the gate), a negative quote a negative mark. A mark is above 0,
    and a mid lies between a bid and an ask that are not crossed; else the mark before
    stands."""
    portfolio = Portfolio()
    portfolio.apply_quote(Quote(instrument="X.V", bid=D("99"), ask=D("101")))
    portfolio.apply_quote(Quote(instrument="X.V", bid=bid, ask=ask, last=last))
    mark = portfolio.mark("X.V")
    assert mark is not None
    assert mark > 0
    basis = portfolio.mark_basis["X.V"]
    if bid is not None and ask is not None and 0 < bid <= ask:
        assert (mark, basis) == ((bid + ask) / 2, "mid")
    elif last is not None and last > 0:
        assert (mark, basis) == (last, "last trade")
    else:
        assert (mark, basis) == (D(100), "mid")  # the mark before stands


def test_an_empty_binance_side_is_no_mark() -> None:
    """Binance's bookTicker says an empty side as 0: the mark was half the other side."""
    from silvertine_tui.brokers.binance.market import parse_book_ticker

    portfolio = Portfolio()
    portfolio.apply_quote(Quote(instrument="BTCUSDT.BINANCE", bid=D("99.99"), ask=D("100.01")))
    empty_bid = {"b": "0.00000000", "B": "0.00000000", "a": "100.00", "A": "1"}
    portfolio.apply_quote(parse_book_ticker("BTCUSDT.BINANCE", empty_bid))
    assert portfolio.mark("BTCUSDT.BINANCE") == D("100.00")
