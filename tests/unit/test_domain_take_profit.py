"""TAKE_PROFIT (market-if-touched) in the domain: a stop price and no limit; it triggers
the other way from a STOP; a venue may take these market-on-trigger stops with fewer
time-in-force choices than its other orders (Binance: GTC only)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from silvertine_tui.domain import Capabilities, OrderType, Side, TimeInForce

from .test_domain_orders import BTC, request, rules

TP = OrderType.TAKE_PROFIT
SPOT = Capabilities(
    order_types=frozenset(OrderType),
    tifs=frozenset({TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK}),
    market_tifs=frozenset({TimeInForce.IOC}),
    trigger_market_tifs=frozenset({TimeInForce.GTC}),
)

# Which way each stop triggers: True when the price rising to the stop triggers it.
RISING = {
    (OrderType.STOP, Side.BUY): True,
    (OrderType.STOP, Side.SELL): False,
    (OrderType.STOP_LIMIT, Side.BUY): True,
    (OrderType.STOP_LIMIT, Side.SELL): False,
    (OrderType.TAKE_PROFIT, Side.BUY): False,
    (OrderType.TAKE_PROFIT, Side.SELL): True,
    (OrderType.TAKE_PROFIT_LIMIT, Side.BUY): False,
    (OrderType.TAKE_PROFIT_LIMIT, Side.SELL): True,
}


@pytest.mark.parametrize(("kind", "side"), sorted(RISING))
def test_each_stop_triggers_its_own_way(kind: OrderType, side: Side) -> None:
    assert kind.triggers_rising(side) is RISING[(kind, side)]


def test_the_prices_each_type_carries() -> None:
    carries = {t: (t.has_stop_price, t.has_limit_price, t.market_on_trigger) for t in OrderType}
    assert carries == {
        OrderType.MARKET: (False, False, False),
        OrderType.LIMIT: (False, True, False),
        OrderType.STOP: (True, False, True),
        OrderType.STOP_LIMIT: (True, True, False),
        OrderType.TAKE_PROFIT: (True, False, True),
        OrderType.TAKE_PROFIT_LIMIT: (True, True, False),
    }
    assert {t for t in OrderType if t.has_stop_price} == {kind for kind, _ in RISING}


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        ({"limit_price": None}, ("stop_price", "required")),
        ({"stop_price": D("64000")}, ("limit_price", "not_allowed")),
        ({"limit_price": None, "stop_price": D("64000.005")}, ("stop_price", "tick_size")),
    ],
)
def test_a_take_profit_needs_a_stop_and_takes_no_limit(
    kw: dict[str, object], expected: tuple[str, str]
) -> None:
    assert expected in rules(request(order_type=TP, **kw))


def test_a_valid_take_profit_is_judged_at_its_stop() -> None:
    valid = request(order_type=TP, limit_price=None, stop_price=D("64000"))
    assert rules(valid) == set()
    assert ("quantity", "min_notional") in rules(
        request(order_type=TP, limit_price=None, stop_price=D("1.00"), quantity=D("0.001"))
    )
    valid.validate_for(BTC)


def test_a_venue_can_take_market_stops_with_fewer_time_in_force() -> None:
    for kind in (OrderType.STOP, OrderType.TAKE_PROFIT):
        assert SPOT.tifs_for(kind) == [TimeInForce.GTC]
        [issue] = SPOT.issues("binance", kind, TimeInForce.IOC)
        assert (issue.field, issue.rule) == ("tif", "supported")
        assert "does not take IOC on" in issue.message
    for kind in (OrderType.LIMIT, OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT):
        assert SPOT.tifs_for(kind) == [TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK]
    # Without the setting, market stops take what other orders take.
    assert Capabilities().tifs_for(TP) == Capabilities().tifs_for(OrderType.LIMIT)


def test_a_venue_with_only_take_profits_has_stops() -> None:
    assert Capabilities(order_types=frozenset({OrderType.LIMIT, TP})).stops
    assert not Capabilities(order_types=frozenset({OrderType.LIMIT, OrderType.MARKET})).stops
