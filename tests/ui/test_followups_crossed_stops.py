"""A stop checked against a crossed quote (the bid above the ask) is not judged on its
crossed sides: the ticket says the quote is crossed instead (a desk review).

Before, `stop_through` judged a buy stop on the ask and a sell stop on the bid whatever
they were: with the quote crossed (bid 2,005.00 over ask 1,995.00) a buy stop at
1,975.00 read `a buy stop at or below the market (ask 1,995.00) triggers at once`,
which the paper venue does not do (a crossed book is no market there: nothing
triggers); and where the venue refuses a stop through the market (Binance, judged on
its last trade), a quote with no last trade was judged on its far side, the crossed
bid, and a stop Binance takes was refused at the ticket. Now a crossed quote gives no
`through` and no far side; the Stop row says `quote crossed (bid ... above ask ...): no
market to judge this buy stop by ...` as a warning, and a refusal is only ever the
venue's last trade's. Checked against the real paper venue and the fake Binance's
rule (tests/fakes/binance/exchange.py), as tests/unit/test_stops_through_rules.py does
for a quote that is not crossed."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import example, given
from hypothesis import strategies as st

from silvertine_tui.brokers.paper import MarketBook, ReportKind
from silvertine_tui.domain import OrderType, Quote, Side
from silvertine_tui.ui.model import is_crossed
from silvertine_tui.ui.orders import (
    CROSSED_QUOTE,
    STOP_THROUGH,
    Draft,
    check,
    stop_through,
    stop_through_said,
)
from tests.fakes.binance.exchange import Exchange
from tests.unit.test_paper_venue import ETH, KEY, T0, make_venue
from tests.unit.test_stops_through_rules import (
    BINANCE_KIND,
    BTC_BINANCE,
    STOP_KINDS,
    binance_desk,
    with_stop,
)

TICKS = st.integers(min_value=-200, max_value=200)
GAPS = st.integers(min_value=1, max_value=40)  # how far the bid is above the ask, in ticks


@given(st.sampled_from(STOP_KINDS), st.sampled_from(list(Side)), TICKS, GAPS)
@example(OrderType.STOP, Side.BUY, -100, 20)  # stop 1,975.00, ask 1,995.00 under bid 2,005.00
def test_on_a_crossed_quote_the_ticket_says_so_and_the_paper_venue_triggers_nothing(
    kind: OrderType, side: Side, ticks: int, gap: int
) -> None:
    ask = D("2000.00") - gap * D("0.25")
    bid = D("2000.00") + gap * D("0.25")
    stop = D("2000.00") + ticks * D("0.25")
    quote = Quote(instrument=KEY, bid=bid, ask=ask, last=D("2000.00"))
    assert is_crossed(quote)
    venue = make_venue(short_selling=True)
    venue.set_book(MarketBook.of(KEY, [(f"{bid}", "3")], [(f"{ask}", "1")]), T0)
    request = with_stop(kind, side, stop)
    reports = venue.submit(request, T0)
    assert ReportKind.TRIGGERED not in [r.kind for r in reports]  # the venue: no market
    through = stop_through(request, quote, D("2000.00"), "mid")
    assert through is None
    refused, warned = stop_through_said(request, ETH, quote, through)
    assert refused is None
    assert warned is not None
    assert (warned.field, warned.rule) == ("stop_price", STOP_THROUGH)
    what = "take-profit" if "TAKE_PROFIT" in kind.value else "stop"
    assert warned.message == (
        f"quote crossed (bid {bid:,.2f} above ask {ask:,.2f}): no market to judge this "
        f"{side.value.lower()} {what} by: whether it triggers at once is not known"
    )


@given(
    st.sampled_from(STOP_KINDS),
    st.sampled_from(list(Side)),
    TICKS,
    GAPS,
    st.integers(min_value=-8, max_value=8),
    st.booleans(),
)
# Found: no last trade, a buy stop at 65,002.00 under the crossed bid 65,005.00 (the far
# side) was refused; Binance, no trade through it, takes it.
@example(OrderType.STOP, Side.BUY, 8, 20, 0, False)
def test_on_a_crossed_quote_the_ticket_refuses_only_what_binances_last_trade_refuses(
    kind: OrderType, side: Side, ticks: int, gap: int, last_ticks: int, last_known: bool
) -> None:
    bid = D("65000.00") + gap * D("0.25")
    ask = D("65000.00") - gap * D("0.25")
    stop = D("65000.00") + ticks * D("0.25")
    last = D("65000.00") + last_ticks * D("0.25")
    quote = Quote(instrument=BTC_BINANCE.key, bid=bid, ask=ask, last=last if last_known else None)
    request = with_stop(kind, side, stop).model_copy(update={"instrument": BTC_BINANCE.key})
    through = stop_through(request, quote, None)
    refused, warned = stop_through_said(request, BTC_BINANCE, quote, through, "binance")
    binance_refuses = Exchange._stop_triggered(
        BINANCE_KIND[kind], str(side), stop, last if last_known else None
    )
    assert (refused is not None) == binance_refuses
    if refused is not None:
        assert "(last trade " in refused.message  # never a crossed side's
        assert warned is None
        return
    assert warned is not None
    assert warned.message.startswith(f"quote crossed (bid {bid:,.2f} above ask {ask:,.2f}): ")
    if last_known:
        assert warned.message.endswith(
            f"binance judges it on its last trade, {last:,.2f}, which has not reached it"
        )
    else:
        assert "binance judges it on its last trade, not known here" in warned.message


def test_a_ticket_stop_on_a_crossed_binance_quote_is_warned_not_refused() -> None:
    """Through `check`, as the ticket runs it: a buy STOP at 65,002.00 with Binance's
    quote crossed, bid 65,005.00 over ask 64,995.00, no last trade: not refused (it was,
    on the crossed bid), the Stop row says the quote is crossed, the ticket's own
    crossed-quote warning beside it, and the preview prices it at its stop, not at a
    crossed side."""
    quote = Quote(instrument=BTC_BINANCE.key, bid=D("65005.00"), ask=D("64995.00"))
    desk = binance_desk(quote)
    draft = Draft(
        instrument=BTC_BINANCE.key,
        side=Side.BUY,
        order_type=OrderType.STOP,
        quantity="0.1",
        stop_price="65002",
        account="binance/main",
    )
    checked = check(draft, desk, client_order_id="st000000000000000004", quote=lambda k: quote)
    assert [p for p in checked.problems if p.rule == STOP_THROUGH] == []
    said = [str(w) for w in checked.warnings]
    assert said[0] == (
        "Stop: quote crossed (bid 65,005.00 above ask 64,995.00): no market to judge this buy "
        "stop by; binance judges it on its last trade, not known here: it may refuse it, or "
        "trigger it on a trade there at once [stop_through]"
    )
    assert [w.rule for w in checked.warnings] == [STOP_THROUGH, CROSSED_QUOTE]
    assert checked.preview is not None
    assert checked.preview.price_basis == "stop"
    assert checked.preview.notional == D("6500.200")
