"""The venue's price band (Binance PERCENT_PRICE_BY_SIDE), checked before sending
around the desk's mark: a price far from the market is refused with the field and rule
named, and a price inside the band is never refused for it."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.domain import Instrument, OrderRequest, OrderType, PriceBand, Side

BAND = PriceBand(bid_up=D("1.2"), bid_down=D("0.5"), ask_up=D("2"), ask_down=D("0.8"))
ETH = Instrument(
    symbol="ETHUSDT",
    venue="BINANCE",
    base_currency="ETH",
    quote_currency="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.0001"),
    min_qty=D("0.0001"),
    price_band=BAND,
)

prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
marks = st.decimals(min_value=D("1"), max_value=D("50000"), places=2)


def limit(side: Side, price: D, order_type: OrderType = OrderType.LIMIT) -> OrderRequest:
    return OrderRequest(
        broker="binance",
        account="main",
        instrument=ETH.key,
        side=side,
        order_type=order_type,
        quantity=D("1"),
        limit_price=price,
        stop_price=price if order_type is OrderType.STOP_LIMIT else None,
    )


def band_issues(request: OrderRequest, mark: D | None) -> list[str]:
    return [i.message for i in request.issues(ETH, mark) if i.rule == "price_band"]


@given(side=st.sampled_from(Side), price=prices, mark=marks)
def test_refused_exactly_when_outside_the_sides_band(side: Side, price: D, mark: D) -> None:
    low, high = (BAND.bid_down, BAND.bid_up) if side is Side.BUY else (BAND.ask_down, BAND.ask_up)
    outside = not (mark * low <= price <= mark * high)
    found = [i for i in limit(side, price).issues(ETH, mark) if i.rule == "price_band"]
    assert bool(found) == outside
    for issue in found:
        assert issue.field == "limit_price"


@given(side=st.sampled_from(Side), price=prices)
def test_without_a_mark_the_band_is_left_to_the_venue(side: Side, price: D) -> None:
    assert band_issues(limit(side, price), None) == []


def test_the_message_names_the_side_the_band_and_the_mark() -> None:
    # a buy at ten times the market: the decimal point in the wrong place
    (message,) = band_issues(limit(Side.BUY, D("20000")), D("2000"))
    assert message == (
        "20,000.00 is outside the venue's buy band 1,000.00-2,400.00 around 2,000.00"
    )
    (message,) = band_issues(limit(Side.SELL, D("1500")), D("2000"))
    assert message == (
        "1,500.00 is outside the venue's sell band 1,600.00-4,000.00 around 2,000.00"
    )


def test_the_message_prints_prices_on_the_tick() -> None:
    """Binance's average price comes as `3201.58000000`: the message said it so, and the
    typed price without its tick's decimals. Prices read as the desk prints them; a
    price off the tick keeps its own decimals (never rounded onto a tick it missed),
    and a reference between two ticks shows one decimal finer."""
    (message,) = band_issues(limit(Side.BUY, D("31506")), D("3201.58000000"))
    assert message == (
        "31,506.00 is outside the venue's buy band 1,600.79-3,841.89 around 3,201.58"
    )
    (message,) = band_issues(limit(Side.BUY, D("31506.125")), D("3201.583333333"))
    assert message.startswith("31,506.125 is outside")
    assert message.endswith("around 3,201.583")
    assert ETH.price_text(D("3000.1234")) == "3,000.1234"
    assert ETH.mark_text(D("64997.825")) == "64,997.825"
    assert ETH.mark_text(D("64997.82000000")) == "64,997.82"


def test_a_stop_limits_limit_price_is_held_to_the_band_too() -> None:
    assert band_issues(limit(Side.BUY, D("20000"), OrderType.STOP_LIMIT), D("2000"))
    assert band_issues(limit(Side.BUY, D("2000"), OrderType.STOP_LIMIT), D("2000")) == []
