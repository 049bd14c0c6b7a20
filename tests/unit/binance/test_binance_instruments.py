"""exchangeInfo symbols -> Instrument: every filter Binance applies, as the fake shows them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silvertine_tui.brokers.binance.instruments import (
    NotionalScope,
    dec,
    key_of,
    notional_scope,
    parse_exchange_info,
    parse_symbol,
    symbol_of,
)
from silvertine_tui.brokers.binance.translate import wire
from silvertine_tui.domain import OrderRequest, OrderType, PriceBand, Side
from tests.fakes.binance import SymbolSpec

SPEC = SymbolSpec(
    "ETHUSDT",
    "ETH",
    "USDT",
    tick_size=Decimal("0.01"),
    min_price=Decimal("0.01"),
    max_price=Decimal("100000"),
    step_size=Decimal("0.0001"),
    min_qty=Decimal("0.0001"),
    max_qty=Decimal("9000"),
    market_step_size=Decimal("0.001"),
    market_min_qty=Decimal("0.001"),
    market_max_qty=Decimal("150"),
    min_notional=Decimal("5"),
    max_notional=Decimal("9000000"),
    bid_multiplier_up=Decimal("5"),
    bid_multiplier_down=Decimal("0.2"),
    ask_multiplier_up=Decimal("4"),
    ask_multiplier_down=Decimal("0.3"),
)


def test_every_filter_is_read() -> None:
    instrument = parse_symbol(SPEC.exchange_info())
    assert instrument.key == "ETHUSDT.BINANCE"
    assert (instrument.base_currency, instrument.quote_currency) == ("ETH", "USDT")
    assert instrument.tick_size == Decimal("0.01")
    assert (instrument.min_price, instrument.max_price) == (Decimal("0.01"), Decimal("100000"))
    assert (instrument.lot_size, instrument.min_qty, instrument.max_qty) == (
        Decimal("0.0001"),
        Decimal("0.0001"),
        Decimal("9000"),
    )
    assert instrument.market_lot_size == Decimal("0.001")
    assert (instrument.market_min_qty, instrument.market_max_qty) == (
        Decimal("0.001"),
        Decimal("150"),
    )
    assert (instrument.min_notional, instrument.max_notional) == (Decimal(5), Decimal(9000000))
    assert instrument.price_band == PriceBand(
        bid_up=Decimal(5),
        bid_down=Decimal("0.2"),
        ask_up=Decimal(4),
        ask_down=Decimal("0.3"),
        average_minutes=5,
    )
    assert instrument.trading
    assert instrument.status == "TRADING"
    # The grid rules work on what was read.
    assert instrument.check_qty(Decimal("0.00015"))
    assert instrument.check_qty(Decimal("0.0005"), market=True)  # below the market minimum
    assert not instrument.check_qty(Decimal("0.002"), market=True)


def test_a_market_lot_size_of_zero_leaves_the_limit_grid() -> None:
    spec = dataclasses.replace(SPEC, market_step_size=Decimal(0), market_min_qty=Decimal(0))
    instrument = parse_symbol(spec.exchange_info())
    assert instrument.market_lot_size is None
    assert instrument.market_min_qty == Decimal("0.0001")  # LOT_SIZE still applies


def test_min_notional_filter_and_its_market_scope() -> None:
    spec = dataclasses.replace(SPEC, notional_filter="MIN_NOTIONAL", apply_min_to_market=False)
    info = spec.exchange_info()
    instrument = parse_symbol(info)
    assert instrument.min_notional == Decimal(5)
    assert instrument.max_notional is None
    assert notional_scope(info) == NotionalScope(min_to_market=False, max_to_market=False)
    assert notional_scope(SPEC.exchange_info()) == NotionalScope(True, False)


@pytest.mark.parametrize("status", ["BREAK", "HALT", "END_OF_DAY"])
def test_a_symbol_not_trading_says_so(status: str) -> None:
    instrument = parse_symbol(dataclasses.replace(SPEC, status=status).exchange_info())
    assert not instrument.trading
    assert instrument.status == status


def test_exchange_info_by_key() -> None:
    body = {"symbols": [SPEC.exchange_info(), SymbolSpec("BNBUSDT", "BNB", "USDT").exchange_info()]}
    found = parse_exchange_info(body)
    assert sorted(found) == ["BNBUSDT.BINANCE", "ETHUSDT.BINANCE"]


def test_keys() -> None:
    assert key_of("BTCUSDT") == "BTCUSDT.BINANCE"
    assert symbol_of("BTCUSDT.BINANCE") == "BTCUSDT"
    with pytest.raises(ValueError, match="not a BINANCE instrument"):
        symbol_of("BTCUSDT.PAPER")


def test_numbers_as_binance_writes_them() -> None:
    assert dec("0.01000000") == Decimal("0.01")
    assert str(dec("100.00000000")) == "100"
    assert dec("0.00000000") == 0
    with pytest.raises(ValueError, match="not a number"):
        dec("abc")


@given(
    st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("1000000"), places=8).filter(
        lambda d: d > 0
    )
)
def test_a_decimal_survives_the_wire(value: Decimal) -> None:
    text = wire(value)
    assert "E" not in text
    assert "e" not in text
    assert dec(text) == value


def test_the_order_types_a_symbol_takes_are_read_as_ours() -> None:
    spec = dataclasses.replace(SPEC, order_types=("LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS"))
    instrument = parse_symbol(spec.exchange_info())
    assert instrument.order_types == {OrderType.LIMIT, OrderType.MARKET, OrderType.STOP}
    stop = OrderRequest(
        broker="binance",
        account="main",
        instrument=instrument.key,
        side=Side.SELL,
        order_type=OrderType.TAKE_PROFIT,
        quantity=Decimal("0.1"),
        stop_price=Decimal("2100"),
    )
    (issue,) = [i for i in stop.issues(instrument) if i.rule == "supported"]
    assert issue.field == "order_type"
    assert issue.message == (
        "ETHUSDT.BINANCE does not take TAKE_PROFIT orders (it takes LIMIT, MARKET, STOP)"
    )
    # A symbol whose exchangeInfo lists no types leaves them to the broker's capabilities.
    info = SPEC.exchange_info()
    del info["orderTypes"]
    assert parse_symbol(info).order_types is None
