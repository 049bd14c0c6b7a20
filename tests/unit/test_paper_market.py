"""The synthetic market: seeded, on the grid, shaped as configured, GBM statistics."""

from __future__ import annotations

import itertools
import math
import statistics
from decimal import Decimal as D

from silvertine_tui.brokers.paper import (
    BUILTIN_SPECS,
    MarketBook,
    SymbolSpec,
    SyntheticMarket,
    build_specs,
)
from silvertine_tui.brokers.paper.instruments import default_spec, symbol_spec
from silvertine_tui.brokers.paper.market import SECONDS_PER_YEAR
from silvertine_tui.config import PaperBrokerConfig, PaperMarketConfig, PaperSymbolConfig
from silvertine_tui.domain import Book, BookLevel, Quote

PARAMS = PaperMarketConfig()
SPECS = [BUILTIN_SPECS["BTCUSDT"], BUILTIN_SPECS["AAPL"]]


def walk(seed: int, steps: int, specs: list[SymbolSpec] = SPECS) -> list[dict[str, MarketBook]]:
    market = SyntheticMarket(specs, PARAMS, seed)
    return [market.step(i) for i in range(steps)]


def test_the_same_seed_gives_the_same_market_and_another_seed_does_not() -> None:
    assert walk(7, 200) == walk(7, 200)
    assert walk(7, 200)[-1] != walk(8, 200)[-1]


def test_a_symbol_walks_the_same_whatever_else_is_quoted() -> None:
    alone = walk(7, 100, [BUILTIN_SPECS["AAPL"]])
    together = walk(7, 100)
    assert [b["AAPL.PAPER"] for b in alone] == [b["AAPL.PAPER"] for b in together]


def test_books_are_on_the_grid_sorted_and_shaped_as_configured() -> None:
    for books in walk(3, 300):
        for key, book in books.items():
            spec = next(s for s in SPECS if s.key == key)
            assert len(book.bids) == len(book.asks) == PARAMS.depth_levels
            assert book.best_bid is not None
            assert book.best_ask is not None
            assert book.best_ask - book.best_bid >= spec.tick_size
            prices_b = [p for p, _ in book.bids]
            prices_a = [p for p, _ in book.asks]
            assert prices_b == sorted(prices_b, reverse=True)
            assert prices_a == sorted(prices_a)
            assert len(set(prices_b)) == len(prices_b)
            for price, size in (*book.bids, *book.asks):
                assert price % spec.tick_size == 0
                assert price.as_tuple().exponent == spec.tick_size.as_tuple().exponent
                assert size % spec.lot_size == 0
                assert size >= spec.lot_size
    btc = walk(3, 1)[0]["BTCUSDT.PAPER"]
    mid = btc.mid
    assert mid is not None
    spread_bps = (btc.asks[0][0] - btc.bids[0][0]) / mid * 10_000
    assert D("0.9") <= spread_bps <= D("1.1")  # configured 1 bps
    step_bps = (btc.asks[1][0] - btc.asks[0][0]) / mid * 10_000
    assert D("0.45") <= step_bps <= D("0.55")  # level_step_bps 0.5
    # Deeper levels are bigger on average (size_growth 0.25 per level).
    totals = [0.0] * PARAMS.depth_levels
    for books in walk(5, 400):
        for i, (_, size) in enumerate(books["BTCUSDT.PAPER"].asks):
            totals[i] += float(size)
    assert totals[-1] / totals[0] > 2.5  # 1 + 0.25 * 9 = 3.25 expected


def test_log_returns_have_the_configured_volatility() -> None:
    spec = BUILTIN_SPECS["ETHUSDT"]
    market = SyntheticMarket([spec], PARAMS, 11)
    walk_ = market.walks[spec.key]
    logs = []
    for _ in range(20_000):
        walk_.step()
        logs.append(walk_.log_mid)
    returns = [b - a for a, b in itertools.pairwise(logs)]
    expected = spec.volatility * math.sqrt(PARAMS.tick_interval_ms / 1000 / SECONDS_PER_YEAR)
    assert abs(statistics.pstdev(returns) / expected - 1) < 0.03
    assert abs(statistics.fmean(returns)) < 3 * expected / math.sqrt(len(returns))


def test_anchor_continues_from_a_given_mid() -> None:
    market = SyntheticMarket([BUILTIN_SPECS["AAPL"]], PARAMS, 1)
    market.anchor("AAPL.PAPER", D("250.00"))
    book = market.books()["AAPL.PAPER"]
    assert book.mid is not None
    assert abs(book.mid - D("250")) <= D("0.02")


def test_conversions_from_other_feeds() -> None:
    book = Book(
        instrument="BTCUSDT.BINANCE",
        bids=(BookLevel(price=D("100.00"), size=D("1")), BookLevel(price=D("99.99"), size=D("0"))),
        asks=(BookLevel(price=D("100.01"), size=D("2")),),
        venue_ts_ns=5,
    )
    mb = MarketBook.from_book(book, "BTCUSDT.PAPER")
    assert mb.bids == ((D("100.00"), D("1")),)  # empty levels dropped
    assert mb.to_book().instrument == "BTCUSDT.PAPER"
    quote = Quote(instrument="X.Y", bid=D("1.00"), ask=D("1.01"), bid_size=D("3"))
    one = MarketBook.from_quote(quote, "X.PAPER")
    assert one.bids == ((D("1.00"), D("3")),)
    assert one.asks == ()  # a side without size has no liquidity
    assert one.to_quote().bid == D("1.00")


def test_instrument_table_defaults_and_overrides() -> None:
    btc = BUILTIN_SPECS["BTCUSDT"].instrument()
    assert (btc.key, btc.tick_size, btc.lot_size, btc.min_qty, btc.min_notional) == (
        "BTCUSDT.PAPER",
        D("0.01"),
        D("0.00001"),
        D("0.00001"),
        D("5"),
    )
    assert (BUILTIN_SPECS["AAPL"].lot_size, BUILTIN_SPECS["AAPL"].quote_currency) == (D(1), "USD")
    doge = default_spec("DOGEUSDT")
    assert (doge.base_currency, doge.quote_currency, doge.min_notional) == ("DOGE", "USDT", D(5))
    ibm = default_spec("IBM")
    assert (ibm.quote_currency, ibm.lot_size) == ("USD", D(1))
    spec = symbol_spec("AAPL", PaperSymbolConfig(start_mid=D("180"), lot_size=D("10")))
    assert (spec.start_mid, spec.lot_size, spec.min_qty, spec.tick_size) == (
        D("180"),
        D("10"),
        D("10"),
        D("0.01"),
    )
    config = PaperBrokerConfig(name="p", symbols=["ETHUSDT", "IBM"])
    assert list(build_specs(config)) == ["ETHUSDT.PAPER", "IBM.PAPER"]
