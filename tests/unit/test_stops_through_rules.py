"""The ticket's judgement of a stop already through the market (`ui.orders.stop_through`,
`stop_through_said`) agrees with the venues': the paper venue triggers one at once on
its best bid/ask (docs/paper-simulator.md, Stops), so the ticket warns exactly when the
real `PaperVenue` triggers the order as it arrives; Binance refuses one (-2010 "Order
would trigger immediately."), judged on its last trade, so the ticket refuses exactly
what the fake Binance's rule refuses, naming the field and the rule. Through `check`, a
STOP through the market is priced where it trades, not at its stop."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from silvertine_tui.brokers.binance import BinanceBroker
from silvertine_tui.brokers.paper import ReportKind
from silvertine_tui.bus import BusOptions, MemoryBus
from silvertine_tui.config import BinanceBrokerConfig, RiskConfig
from silvertine_tui.domain import Capabilities, Instrument, OrderRequest, OrderType, Quote, Side
from silvertine_tui.engine.projection import DeskProjection
from silvertine_tui.engine.risk import RiskGate
from silvertine_tui.events import BrokerProfile, QuoteEvent
from silvertine_tui.ui.orders import (
    Draft,
    TicketContext,
    check,
    stop_through,
    stop_through_said,
)
from tests.fakes.binance.exchange import Exchange

from .test_paper_venue import BOOK, ETH, make_venue, req

STOP_KINDS = [t for t in OrderType if t.has_stop_price]
BINANCE_KIND = {
    OrderType.STOP: "STOP_LOSS",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT: "TAKE_PROFIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
}
# BOOK: bid 1999.50, ask 2000.50.
PAPER_QUOTE = Quote(instrument=ETH.key, bid=D("1999.50"), ask=D("2000.50"), last=D("2000.00"))
TICKS = st.integers(min_value=-400, max_value=400)


def with_stop(kind: OrderType, side: Side, stop: D) -> OrderRequest:
    limit = f"{stop}" if kind.has_limit_price else None
    return req(side, "1", limit, kind=kind, stop=f"{stop}")


@given(st.sampled_from(STOP_KINDS), st.sampled_from(list(Side)), TICKS)
def test_the_ticket_warns_exactly_when_the_paper_venue_triggers_at_once(
    kind: OrderType, side: Side, ticks: int
) -> None:
    stop = D("2000.00") + ticks * D("0.25")
    request = with_stop(kind, side, stop)
    venue = make_venue(short_selling=True)
    reports = venue.submit(request, 0)
    triggered_at_once = ReportKind.TRIGGERED in [r.kind for r in reports]
    through = stop_through(request, PAPER_QUOTE, PAPER_QUOTE.mid)
    refused, warned = stop_through_said(request, ETH, PAPER_QUOTE, through)
    assert refused is None  # the paper venue takes it
    assert (warned is not None) == triggered_at_once
    assert (through is not None) == triggered_at_once
    if through is not None:
        assert through.price == (PAPER_QUOTE.ask if side is Side.BUY else PAPER_QUOTE.bid)
        assert warned is not None
        assert (warned.field, warned.rule) == ("stop_price", "stop_through")


BTC_BINANCE = Instrument(
    symbol="BTCUSDT",
    venue="BINANCE",
    base_currency="BTC",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.00001"),
    min_notional=D("5"),
)


@given(
    st.sampled_from(STOP_KINDS),
    st.sampled_from(list(Side)),
    TICKS,
    st.integers(min_value=-8, max_value=8),
    st.booleans(),
)
# Found by this test: no last trade known, a sell stop at 65,000.00 with the bid a tick
# under it was refused (judged on the bid); Binance, its last trade 65,000.25, took it.
@example(OrderType.STOP, Side.SELL, 0, 1, False)
def test_the_ticket_refuses_exactly_what_binance_refuses(
    kind: OrderType, side: Side, ticks: int, last_ticks: int, last_known: bool
) -> None:
    stop = D("65000.00") + ticks * D("0.25")
    last = D("65000.00") + last_ticks * D("0.25")
    bid, ask = last - D("0.50"), last + D("0.50")  # the last trade inside the spread
    quote = Quote(instrument=BTC_BINANCE.key, bid=bid, ask=ask, last=last if last_known else None)
    request = with_stop(kind, side, stop).model_copy(update={"instrument": BTC_BINANCE.key})
    through = stop_through(request, quote, quote.mid)
    refused, warned = stop_through_said(request, BTC_BINANCE, quote, through, "binance")
    binance_refuses = Exchange._stop_triggered(BINANCE_KIND[kind], str(side), stop, last)
    if last_known:
        assert (refused is not None) == binance_refuses
    else:  # judged on the side that would trade it: past the last trade too
        assert refused is None or binance_refuses
    if refused is not None:
        assert (refused.field, refused.rule) == ("stop_price", "stop_through")
        assert "which binance refuses" in refused.message
        assert warned is None
    if warned is not None:
        assert through is not None
        assert refused is None


def binance_capabilities() -> Capabilities:
    """The real adapter's (built, not connected: nothing is asked of any server)."""
    config = BinanceBrokerConfig(
        name="binance",
        account="spot",
        api_key=SecretStr("k"),
        api_secret=SecretStr("s"),
        rest_url="http://127.0.0.1:9",
        symbols=["BTCUSDT"],
    )
    return BinanceBroker(config, MemoryBus(BusOptions(prefix="t-stops"))).capabilities


def binance_desk(quote: Quote) -> TicketContext:
    """A desk that knows one Binance instrument, its quote and the adapter's
    capabilities, built from the events."""
    view = DeskProjection()
    profile = BrokerProfile(
        broker="binance", capabilities=binance_capabilities(), instruments=(BTC_BINANCE,)
    )
    view.apply_profile(profile)
    view.apply(QuoteEvent.create("binance", quote, ts=1))
    return TicketContext(view, RiskGate(RiskConfig()))


def test_binance_refuses_a_buy_stop_below_its_last_trade_on_the_stop_row() -> None:
    quote = Quote(
        instrument=BTC_BINANCE.key, bid=D("65003.00"), ask=D("65003.25"), last=D("65003.10")
    )
    desk = binance_desk(quote)
    draft = Draft(
        instrument=BTC_BINANCE.key,
        side=Side.BUY,
        order_type=OrderType.STOP,
        quantity="0.1",
        stop_price="64000",
        account="binance/main",
    )
    checked = check(draft, desk, client_order_id="st000000000000000001", quote=lambda k: quote)
    said = [str(p) for p in checked.problems if p.rule == "stop_through"]
    assert said == [
        "Stop: a buy stop at or below the market (last trade 65,003.10) triggers at once, "
        "which binance refuses: a buy stop goes above 65,003.10 [stop_through]"
    ]
    assert checked.warnings == []
    assert not checked.ok
    # Above the market it waits: nothing said, priced at its stop.
    waiting = check(
        draft_with(draft, "66000"),
        desk,
        client_order_id="st000000000000000002",
        quote=lambda k: quote,
    )
    assert [p for p in waiting.problems if p.rule == "stop_through"] == []
    assert waiting.preview is not None
    assert waiting.preview.price_basis == "stop"
    assert waiting.preview.notional == D("6600.000")


def draft_with(draft: Draft, stop: str) -> Draft:
    return Draft(
        instrument=draft.instrument,
        side=draft.side,
        order_type=draft.order_type,
        quantity=draft.quantity,
        stop_price=stop,
        account=draft.account,
    )


def test_a_stop_through_the_market_is_priced_at_the_ask_not_at_its_stop() -> None:
    """The reviewed case, on the paper venue's rules: ask ~65,000, BUY STOP 0.1 stop
    64,000 read `6,400.00 USDT at stop fee~6.40`."""
    paper = BTC_BINANCE.model_copy(update={"venue": "PAPER"})
    quote = Quote(instrument=paper.key, bid=D("65003.00"), ask=D("65003.25"))
    view = DeskProjection()
    view.apply_profile(BrokerProfile(broker="paper", instruments=(paper,)))
    view.apply(QuoteEvent.create("paper", quote, ts=1))
    desk = TicketContext(view, RiskGate(RiskConfig()))
    draft = Draft(
        instrument=paper.key,
        side=Side.BUY,
        order_type=OrderType.STOP,
        quantity="0.1",
        stop_price="64000",
        account="paper/main",
    )
    checked = check(draft, desk, client_order_id="st000000000000000003", quote=lambda k: quote)
    assert checked.preview is not None
    assert checked.preview.text().startswith("6,500.32 USDT at ask fee~6.50")
    assert [str(w) for w in checked.warnings] == [
        "Stop: a buy stop at or below the market (ask 65,003.25) triggers at once: it buys "
        "at the market now [stop_through]"
    ]
    assert [p for p in checked.problems if p.rule == "stop_through"] == []


def test_the_venue_book_of_these_examples() -> None:
    assert (BOOK.best_bid, BOOK.best_ask) == (PAPER_QUOTE.bid, PAPER_QUOTE.ask)
